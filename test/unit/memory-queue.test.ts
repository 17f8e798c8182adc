import { MemoryShardQueue } from "../../core/index.ts";
import { queueContract } from "../helpers/queue-contract.ts";

queueContract("MemoryShardQueue", async (o) => new MemoryShardQueue(o));
