/** A head, 0-based; written `L.H` in files and flags. One type for every place that names a head. */
export interface HeadRef {
  layer: number;
  head: number;
}
