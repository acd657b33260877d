#!/usr/bin/env python3
"""Checks, in real PyTorch, the StarGAN v2 network files that the Java writer (StarGanV2.save) wrote.

Run from the repository root with the interpreter that has PyTorch 1.13 (Debian: python3-torch), after
`mvn test -pl dl4j-instancenorm-zoo -Dtest=StarGanV2FilesTest -Dstarganv2.update=true` has rewritten them:

    /usr/bin/python3 dl4j-instancenorm-zoo/src/test/python/verify_stargan_v2_written.py

For each file under dl4j-instancenorm-zoo/src/test/resources/fixtures/starganv2/java-written/: torch.load, then
each entry into the module of the official layout (the definitions of gen_stargan_v2_fixtures.py) with
load_state_dict(strict=True), which prints its result; then the four networks run on the fixture's inputs and
must give the outputs PyTorch gave for the original weights (max abs difference printed, at most 1e-5).
Exits non-zero on any mismatch.
"""
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen_stargan_v2_fixtures as fx  # noqa: E402

FIXTURES = os.path.join(HERE, "..", "resources", "fixtures", "starganv2")


def main():
    ok = True
    for name in ("narrow32", "hpf64"):
        img, dim_in, max_dim, domains, style_dim, latent, hidden, batch, w_hpf, mask_size = fx.CONFIGS[name]
        nets = {
            "generator": fx.Gen(img, dim_in, max_dim, style_dim, w_hpf),
            "mapping_network": fx.Mapping(latent, style_dim, domains, hidden),
            "style_encoder": fx.Encoder(img, dim_in, max_dim, domains, style_dim),
            "discriminator": fx.Critic(img, dim_in, max_dim, domains),
        }
        path = os.path.join(FIXTURES, "java-written", name + "_nets.ckpt")
        written = torch.load(path)
        print(f"{name}: {path}: entries {sorted(written.keys())}")
        if set(written.keys()) != set(nets.keys()):
            ok = False
        for key, module in nets.items():
            result = module.load_state_dict(written[key], strict=True)
            print(f"  {key}: {result}")
            module.eval()
        arrays = np.load(os.path.join(FIXTURES, name + ".npz"))
        t = {k: torch.from_numpy(arrays[k]) for k in arrays.files}
        y = t["y_onehot"].argmax(dim=1)
        masks = (t["mask0"], t["mask1"]) if w_hpf > 0 else None
        with torch.no_grad():
            outputs = {
                "s_mapping": nets["mapping_network"](t["z"], y),
                "s_style": nets["style_encoder"](t["x"], y),
                "d_out": nets["discriminator"](t["x"], y),
                "g_latent": nets["generator"](t["x_src"], t["s_mapping"], masks),
                "g_reference": nets["generator"](t["x_src"], t["s_style"], masks),
            }
        for k, v in outputs.items():
            diff = (v - t[k]).abs().max().item()
            print(f"  {k}: max |difference| {diff:.3g}")
            ok = ok and diff <= 1e-5
    print("ALL MATCH" if ok else "MISMATCH", torch.__version__)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
