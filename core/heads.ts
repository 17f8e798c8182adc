/**
 * A head, 0-based. One type for every place that names a head, and one spelling for printing it:
 * `L9H1` (layer 9, head 1), the form interpretability papers and TransformerLens use. The older
 * `9.1` is still accepted on input, but never printed, because it reads as a decimal.
 */
export interface HeadRef {
  layer: number;
  head: number;
}

/** A neuron of an MLP layer, 0-based; printed `L11N2824`. */
export interface NeuronRef {
  layer: number;
  neuron: number;
}

/** `L9H1`. */
export const headName = (h: HeadRef): string => `L${h.layer}H${h.head}`;

/** `L11N2824`. */
export const neuronName = (n: NeuronRef): string => `L${n.layer}N${n.neuron}`;

const HEAD_FORMS = [/^[Ll](\d{1,6})[Hh](\d{1,6})$/, /^(\d{1,6})\.(\d{1,6})$/];
const NEURON_FORMS = [/^[Ll](\d{1,6})[Nn](\d{1,9})$/, /^(\d{1,6})\.(\d{1,9})$/];

/** Reads `L9H1` (any case) or `9.1`; null for anything else. Ranges are checked against a model later. */
export function readHeadName(text: string): HeadRef | null {
  for (const form of HEAD_FORMS) {
    const m = form.exec(text.trim());
    if (m) return { layer: Number(m[1]), head: Number(m[2]) };
  }
  return null;
}

/** Reads `L11N2824` (any case) or `11.2824`; null for anything else. */
export function readNeuronName(text: string): NeuronRef | null {
  for (const form of NEURON_FORMS) {
    const m = form.exec(text.trim());
    if (m) return { layer: Number(m[1]), neuron: Number(m[2]) };
  }
  return null;
}
