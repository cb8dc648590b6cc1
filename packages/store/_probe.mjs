import * as A from "@automerge/automerge";
import { readFileSync } from "node:fs";
const [n, what] = process.argv.slice(2);
const bytes = readFileSync(`/tmp/nest/deep-${n}.bin`);
const t = Date.now();
const walk = (h, limit) => {
  const stack = [["_root", 0]]; let deepest = 0;
  while (stack.length) {
    const [obj, d] = stack.pop(); if (d > deepest) deepest = d; if (d > limit) return d;
    for (const k of h.keys(obj)) for (const v of h.getAll(obj, k)) if (typeof v[0] === "string" && ["map","list","text","table"].includes(v[0])) stack.push([v[1], d + 1]);
  }
  return deepest;
};
let r;
try {
  switch (what) {
    case "load": { const d = A.load(bytes); r = "ok"; break; }
    case "loadwalk": { const d = A.load(bytes); r = walk(A.getBackend(d), 64); break; }
    case "loadwalkfull": { const d = A.load(bytes); r = walk(A.getBackend(d), 1e9); break; }
    case "loadInc": { A.loadIncremental(A.init(), bytes); r = "ok"; break; }
    case "lowload": { const h = A.getBackend(A.init()); r = h.loadIncremental(bytes); r = `ops ${r} ${walk(h,64)}`; break; }
    case "objinfo": { const d = A.load(bytes); const h = A.getBackend(d); let o = "_root"; for (let i=0;i<Number(n)-1;i++) o = h.get(o,"a"); r = h.objInfo(o).path?.length; break; }
    case "decode": { let c = A.decodeChange; const d = A.load(bytes); r = A.getAllChanges(d).length; break; }
    case "getHeads": { const d = A.load(bytes); r = A.getHeads(d).length + " " + A.save(d).byteLength; break; }
    case "proxy": { const d = A.load(bytes); r = JSON.stringify(Object.keys(d)); break; }
    case "toJS": { const d = A.load(bytes); A.toJS(d); r = "ok"; break; }
    case "change": { const d = A.load(bytes); A.change(d, (x) => { x.b = 1; }); r = "ok"; break; }
    case "sync": { const d = A.load(bytes); let s = A.initSyncState(); const [s2, m] = A.generateSyncMessage(d, s); let b = A.init(); let bs = A.initSyncState(); [b] = A.receiveSyncMessage(b, bs, m); r = "ok"; break; }
  }
  console.log(n, what, "->", r, Date.now() - t, "ms");
  try { A.from({x:1}); console.log("  module alive"); } catch (e) { console.log("  module dead", e.message); }
} catch (e) { console.log(n, what, "THREW", e.message, Date.now() - t, "ms"); try { A.from({x:1}); console.log("  module alive"); } catch (e) { console.log("  module dead", e.message); } }
