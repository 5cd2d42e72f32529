"""Are the purified regions where the masks are, or is the training segmenter only fooled?

An independent U-Net (seed 123, 400 steps, fitted on the first seed's clean synth training
eyes, no augmentation) segments the purified test eyes of ``attention`` without the
segmentation term (``seg_weight`` 0) and with each given weight, plus the raw and oracle eyes,
and scores each region's IoU against the true masks (issue 12)::

    python results/cpu/region_iou.py 5,6,7,8,9 1000,10000

Same data, fits and cache as ``gazebench run -p attention -e cnn --seed N -o
attention.seg_weight=W``.
"""
import sys

from gazebench.plugins import get_plugin_manager
from gazebench.runner import RunConfig
from gazebench.stages import Segmenters, load_test, load_train, plan_run, purify_test, supply_masks
from gazebench_plugins.segmenters.unet import UNetSegmenter

pm = get_plugin_manager()
seeds = [int(s) for s in sys.argv[1].split(",")]
variants = {"no term": {"seg_weight": 0.0}, **{f"seg{w}": {"seg_weight": float(w)} for w in sys.argv[2].split(",")}}
seg = None
def ious(s, truth):
    out = []
    for c in range(4):
        inter = ((s == c) & (truth == c)).sum().item(); uni = ((s == c) | (truth == c)).sum().item()
        out.append(inter / max(uni, 1))
    return out
acc = {}
for seed in seeds:
    for name, params in variants.items():
        cfg = RunConfig(train="synth", test="synth-wild", estimators=["cnn"], purifiers=["attention"], seed=seed,
                        params={"attention": params} if params else {})
        plan, ctx, cfg = plan_run(cfg, pm)
        ctx.log = lambda m: None
        data = load_test(ctx, plan)
        train, _ = load_train(ctx, plan.trains[0], 1)
        if seg is None:
            seg = UNetSegmenter(augment="none", seed=123, progress=False).fit(train)
        inputs = supply_masks(ctx, plan, data, train, Segmenters(pm, cfg.params, ctx.device, ctx.log))
        purified, st = purify_test(ctx, plan.purifiers["attention"], plan.trains[0], inputs)
        truth = data.test.masks.long()
        rows = {"purified": purified}
        if name == "no term":
            rows.update(raw=data.test, oracle=data.oracle)
        for k, b in rows.items():
            v = ious(seg.segment(b.images).long(), truth)
            key = k if k != "purified" else name
            acc.setdefault(key, []).append(v)
            print(seed, key, " ".join(f"{x:.3f}" for x in v), "cached" if st.get("fit_cached") else "", flush=True)
print("mean IoU skin/sclera/iris/pupil")
for k, vs in acc.items():
    print(k, " ".join(f"{sum(v[c] for v in vs)/len(vs):.3f}" for c in range(4)))
