import { MemoryShardQueue } from "../../core/index.ts";
import { contractGroupOf, queueContract } from "../helpers/queue-contract.ts";

queueContract("MemoryShardQueue", async (o) => new MemoryShardQueue({ ...o, groupOf: contractGroupOf }));
