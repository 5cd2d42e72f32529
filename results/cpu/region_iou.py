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
from gazebench_plugins.segmenters.evaluate import region_iou
from gazebench_plugins.segmenters.unet import UNetSegmenter

pm = get_plugin_manager()
seeds = [int(s) for s in sys.argv[1].split(",")]
variants = {"no term": {"seg_weight": 0.0}, **{f"seg{w}": {"seg_weight": float(w)} for w in sys.argv[2].split(",")}}
seg = None
acc: dict[str, list[dict[str, float | None]]] = {}


def score(seed: int, key: str, images, truth, note: str = "") -> None:
    v = region_iou(seg.segment(images).long(), truth)
    acc.setdefault(key, []).append(v)
    print(seed, key, " ".join(f"{x:.3f}" for x in v.values()), note, flush=True)


for seed in seeds:
    plans = {name: plan_run(RunConfig(train="synth", test="synth-wild", estimators=["cnn"], purifiers=["attention"],
                                      seed=seed, params={"attention": params}), pm)
             for name, params in variants.items()}
    plan, ctx, cfg = plans["no term"]
    ctx.log = lambda m: None
    # the data and masks do not depend on the purifier's parameters: loaded once per seed
    data = load_test(ctx, plan)
    train, _ = load_train(ctx, plan.trains[0], 1)
    inputs = supply_masks(ctx, plan, data, train, Segmenters(pm, cfg.params, ctx.device, ctx.log))
    if seg is None:
        seg = UNetSegmenter(augment="none", seed=123, progress=False).fit(train)
    truth = data.test.masks.long()
    score(seed, "raw", data.test.images, truth)
    score(seed, "oracle", data.oracle.images, truth)
    for name, (vplan, vctx, _) in plans.items():
        vctx.log = lambda m: None
        purified, st = purify_test(vctx, vplan.purifiers["attention"], vplan.trains[0], inputs)
        score(seed, name, purified.images, truth, "cached" if st.get("fit_cached") else "")
print("mean IoU " + " / ".join(next(iter(acc.values()))[0]))
for k, vs in acc.items():
    print(k, " ".join(f"{sum(v[r] for v in vs) / len(vs):.3f}" for r in vs[0]))
