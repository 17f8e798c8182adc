/** What the deploy/ tests share: kubectl as a prerequisite, and every overlay rendered once per suite. */
import { beforeAll } from "vitest";
import { kustomizeMissing, OVERLAYS, renderOverlay } from "../../deploy/check.ts";
import type { K8sObject, Overlay } from "../../deploy/check.ts";
import { prerequisite } from "./prereq.ts";

export const kubectl = prerequisite("kubectl (kustomize v5)", kustomizeMissing);

/** Call inside a describe: renders every overlay before its tests; returns the objects of one. */
export function renderOverlaysBeforeAll(): (overlay: Overlay) => K8sObject[] {
  const rendered = new Map<Overlay, K8sObject[]>();
  beforeAll(() => {
    kubectl.assert();
    for (const overlay of OVERLAYS) rendered.set(overlay, renderOverlay(overlay));
  }, 300_000);
  return (overlay) => rendered.get(overlay)!;
}
