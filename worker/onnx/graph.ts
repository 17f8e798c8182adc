/**
 * A small builder for ONNX graphs, over the ModelProto types generated from Debian's onnx.proto.
 *
 * Names are generated (`<hint>_<n>`) so pieces can be composed without collisions; constants are
 * de-duplicated by value. The builder knows nothing about transformers: see pieces.ts for those.
 */
import {
  AttributeProto_AttributeType,
  ModelProto,
  TensorProto_DataLocation,
  TensorProto_DataType,
} from "../../proto/gen/onnx/onnx.ts";
import type { AttributeProto, NodeProto, TensorProto, ValueInfoProto } from "../../proto/gen/onnx/onnx.ts";

/** The opset every graph is built against (LayerNormalization needs 17; ReduceMean still takes `axes` as an attribute). */
export const OPSET = 17;
const IR_VERSION = 8;

export type Dim = number | string;
export type ElemType = "float32" | "int64" | "bool";
const ELEM: Record<ElemType, TensorProto_DataType> = {
  float32: TensorProto_DataType.FLOAT,
  int64: TensorProto_DataType.INT64,
  bool: TensorProto_DataType.BOOL,
};

export type Attr =
  | { kind: "int"; value: number }
  | { kind: "float"; value: number }
  | { kind: "ints"; value: number[] }
  | { kind: "string"; value: string };
export const int = (value: number): Attr => ({ kind: "int", value });
export const float = (value: number): Attr => ({ kind: "float", value });
export const ints = (value: number[]): Attr => ({ kind: "ints", value });

/** Where an initializer's bytes live in an external file (relative to the .onnx file). */
export interface ExternalRef {
  location: string;
  offset: number;
  length: number;
}

export class GraphBuilder {
  private readonly nodes: NodeProto[] = [];
  private readonly initializers: TensorProto[] = [];
  private readonly inputs: ValueInfoProto[] = [];
  private readonly outputs: ValueInfoProto[] = [];
  private readonly constants = new Map<string, string>();
  private counter = 0;

  constructor(private readonly name: string) {}

  private fresh(hint: string): string {
    return `${hint}_${this.counter++}`;
  }

  input(name: string, type: ElemType, dims: Dim[]): string {
    this.inputs.push(valueInfo(name, type, dims));
    return name;
  }

  /** Marks `value` as a graph output called `name` (an Identity node renames it). */
  output(name: string, value: string, type: ElemType, dims: Dim[]): void {
    this.nodes.push(node("Identity", [value], [name], [], this.fresh("out")));
    this.outputs.push(valueInfo(name, type, dims));
  }

  /** A float32 initializer holding `data` (copied into the model bytes). */
  weight(hint: string, data: Float32Array, dims: number[]): string {
    checkSize(hint, data.length, dims);
    const name = this.fresh(hint);
    const raw = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    this.initializers.push(tensor(name, TensorProto_DataType.FLOAT, dims, { rawData: raw }));
    return name;
  }

  /** A float32 initializer whose bytes stay in another file (zero copy for large checkpoints). */
  externalWeight(hint: string, dims: number[], ref: ExternalRef): string {
    const name = this.fresh(hint);
    this.initializers.push(
      tensor(name, TensorProto_DataType.FLOAT, dims, {
        dataLocation: TensorProto_DataLocation.EXTERNAL,
        externalData: [
          { key: "location", value: ref.location },
          { key: "offset", value: String(ref.offset) },
          { key: "length", value: String(ref.length) },
        ],
      }),
    );
    return name;
  }

  /** A small constant, shared between every use of the same value. */
  constant(type: "float32" | "int64", values: number[], dims: number[] = [values.length]): string {
    const key = `${type}:${dims.join("x")}:${values.join(",")}`;
    const existing = this.constants.get(key);
    if (existing) return existing;
    const name = this.fresh(type === "float32" ? "cf" : "ci");
    const raw =
      type === "float32"
        ? Buffer.from(new Float32Array(values).buffer)
        : Buffer.from(new BigInt64Array(values.map(BigInt)).buffer);
    this.initializers.push(tensor(name, ELEM[type], dims, { rawData: raw }));
    this.constants.set(key, name);
    return name;
  }

  scalar(value: number): string {
    return this.constant("float32", [value], []);
  }

  /** Adds one node; returns its single output. */
  op(opType: string, inputs: string[], attrs: Record<string, Attr> = {}, hint = opType.toLowerCase()): string {
    const out = this.fresh(hint);
    this.nodes.push(node(opType, inputs, [out], toAttributes(attrs), this.fresh("n")));
    return out;
  }

  /** Adds one node with several outputs. */
  opN(
    opType: string,
    inputs: string[],
    count: number,
    attrs: Record<string, Attr> = {},
    hint = opType.toLowerCase(),
  ): string[] {
    const outs = Array.from({ length: count }, () => this.fresh(hint));
    this.nodes.push(node(opType, inputs, outs, toAttributes(attrs), this.fresh("n")));
    return outs;
  }

  /** Serialises the model. */
  toBytes(producer: string): Uint8Array {
    const model = ModelProto.fromPartial({
      irVersion: IR_VERSION,
      producerName: producer,
      opsetImport: [{ domain: "", version: OPSET }],
      graph: {
        name: this.name,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    });
    return ModelProto.encode(model).finish();
  }
}

function checkSize(hint: string, length: number, dims: number[]): void {
  const expected = dims.reduce((a, b) => a * b, 1);
  if (expected !== length) throw new Error(`initializer ${hint}: ${length} values for shape [${dims.join(", ")}]`);
}

function tensor(name: string, dataType: TensorProto_DataType, dims: number[], rest: Partial<TensorProto>): TensorProto {
  return {
    name,
    dataType,
    dims,
    floatData: [],
    int32Data: [],
    stringData: [],
    int64Data: [],
    doubleData: [],
    uint64Data: [],
    externalData: [],
    ...rest,
  };
}

function valueInfo(name: string, type: ElemType, dims: Dim[]): ValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: ELEM[type],
        shape: { dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function node(opType: string, input: string[], output: string[], attribute: AttributeProto[], name: string): NodeProto {
  return { opType, input, output, attribute, name, domain: "" };
}

function toAttributes(attrs: Record<string, Attr>): AttributeProto[] {
  return Object.entries(attrs).map(([name, a]) => {
    const base = {
      name,
      floats: [],
      ints: [],
      strings: [],
      tensors: [],
      graphs: [],
      sparseTensors: [],
      typeProtos: [],
    };
    switch (a.kind) {
      case "int":
        return { ...base, type: AttributeProto_AttributeType.INT, i: a.value };
      case "float":
        return { ...base, type: AttributeProto_AttributeType.FLOAT, f: a.value };
      case "ints":
        return { ...base, type: AttributeProto_AttributeType.INTS, ints: a.value };
      case "string":
        return { ...base, type: AttributeProto_AttributeType.STRING, s: Buffer.from(a.value) };
    }
  });
}
