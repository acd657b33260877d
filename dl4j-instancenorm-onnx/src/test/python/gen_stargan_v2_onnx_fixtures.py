#!/usr/bin/env python3
"""ONNX exports of StarGAN v2's generator and mapping network, by real torch.onnx.export, with PyTorch's outputs.

Run from the repository root with PyTorch 1.13 and the onnx package (Debian: python3-torch, python3-onnx), after
dl4j-instancenorm-zoo/src/test/python/gen_stargan_v2_fixtures.py:

    /usr/bin/python3 dl4j-instancenorm-onnx/src/test/python/gen_stargan_v2_onnx_fixtures.py

The networks are the zoo's fixture checkpoints (dl4j-instancenorm-zoo/src/test/resources/fixtures/starganv2/
NAME_nets.ckpt), loaded strictly into the module definitions of gen_stargan_v2_fixtures.py, in eval mode:
  - the generator G(x, s): inputs x [N, 3, H, W] (images in [-1, 1]) and s [N, style_dim], output out;
    with w_hpf > 0 (hpf64) also mask0 and mask1 [N, 1, Hm, Wm];
  - the mapping network F(z, y): inputs z [N, latent_dim] and y [N] (int64 domain indices, as the official code
    takes them), output s.
The styles G is run with are F's outputs for the file's z and y. Exported with the default settings otherwise
(do_constant_folding, TrainingMode.EVAL) and without dynamic axes, like gen_onnx_fixtures.py: the batch size is
the one of the trace (F's per-sample head selection traces torch.arange(N) into a constant).

Configurations: narrow32 (32 px: nearest resize and average pooling) at opsets 11 and 17, small16 (16 px) at 13,
hpf64 (64 px, w_hpf 2, masks: bilinear resize, depthwise convolution) at 17; batch 3 (2 for hpf64).

Writes into dl4j-instancenorm-onnx/src/test/resources/fixtures/onnx/starganv2/:
  sg2_<config>_<net>_opset<K>.onnx   <net> = generator or mapping
  sg2_<config>_<net>_opset<K>.npz    the inputs and PyTorch's outputs, keyed by their ONNX names
  gemm_attributes_opset13.onnx/.npz  Gemm with transA, alpha, beta and the shapes C may take, which nn.Linear's
                                     export does not use (written with onnx.helper, computed by PyTorch)
  manifest.txt                       one line per file: "<name> <config> <net> <opset>"
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ZOO_PY = os.path.join(HERE, "..", "..", "..", "..", "dl4j-instancenorm-zoo", "src", "test", "python")
sys.path.insert(0, ZOO_PY)
import gen_stargan_v2_fixtures as nets_def  # noqa: E402

ZOO_FIXTURES = os.path.join(ZOO_PY, "..", "resources", "fixtures", "starganv2")
OUT = os.path.join(HERE, "..", "resources", "fixtures", "onnx", "starganv2")
EXPORTS = (("narrow32", 11), ("narrow32", 17), ("small16", 13), ("hpf64", 17))


class TracedGen(nets_def.Gen):
    """The zoo's generator with masks as two tensor arguments, and with the feature-map sizes read as Python ints:
    under tracing x.size(2) is a tensor, which cannot key the dict of kept feature maps. Same computation."""

    def forward(self, x, s, mask0=None, mask1=None):
        x = self.from_rgb(x)
        highpass = mask0 is not None
        kept = {}
        for block in self.encode:
            size = int(x.size(2))
            if highpass and size in (32, 64, 128):
                kept[size] = x
            x = block(x)
        for block in self.decode:
            x = block(x, s)
            size = int(x.size(2))
            if highpass and size in (32, 64, 128):
                mask = F.interpolate(mask0 if size == 32 else mask1, size=size, mode="bilinear")
                x = x + self.hpf(mask * kept[size])
        return self.to_rgb(x)


def load(name):
    img, dim_in, max_dim, domains, style_dim, latent, hidden, batch, w_hpf, mask_size = nets_def.CONFIGS[name]
    nets = torch.load(os.path.join(ZOO_FIXTURES, name + "_nets.ckpt"))
    g = TracedGen(img, dim_in, max_dim, style_dim, w_hpf)
    f = nets_def.Mapping(latent, style_dim, domains, hidden)
    g.load_state_dict(nets["generator"], strict=True)
    f.load_state_dict(nets["mapping_network"], strict=True)
    return g.eval(), f.eval()


def export(model, inputs, input_names, output_name, name, opset):
    path = os.path.join(OUT, name + ".onnx")
    torch.onnx.export(model, tuple(inputs), path, opset_version=opset, input_names=input_names,
                      output_names=[output_name])
    import onnx
    onnx.checker.check_model(onnx.load(path))
    with torch.no_grad():
        out = model(*inputs)
    arrays = {n: t.numpy() for n, t in zip(input_names, inputs)}
    arrays[output_name] = out.numpy()
    np.savez(os.path.join(OUT, name + ".npz"), **arrays)
    print("wrote", name, os.path.getsize(path), "bytes")
    return out


def gemm_attributes():
    """Gemm in the forms PyTorch's nn.Linear does not write (it writes transB=1, alpha=beta=1, C [N]): one node per
    case, written with onnx.helper; PyTorch computes alpha * op(A) @ op(B) + beta * C."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    gen = torch.Generator().manual_seed(400)
    # (transA, transB, alpha, beta, C's shape or None, B a graph input), op(A) [M, K] = [3, 4], op(B) [4, 5]
    cases = [(0, 1, 1.0, 1.0, (5,), False), (1, 0, 0.5, 2.0, (5,), False), (0, 0, 1.0, 1.0, (3, 5), False),
             (1, 1, -1.5, 1.0, (3, 1), False), (0, 1, 1.0, 1.0, None, False), (0, 0, 2.0, 0.25, (), True),
             (0, 1, 1.0, 0.0, (1, 5), False)]
    nodes, inputs, outputs, inits, arrays = [], [], [], [], {}
    for i, (ta, tb, alpha, beta, c_shape, b_input) in enumerate(cases):
        a = torch.randn(*((4, 3) if ta else (3, 4)), generator=gen)
        b = torch.randn(*((5, 4) if tb else (4, 5)), generator=gen)
        names = [f"a{i}", f"b{i}"]
        inputs.append(helper.make_tensor_value_info(f"a{i}", TensorProto.FLOAT, list(a.shape)))
        arrays[f"a{i}"] = a.numpy()
        if b_input:
            inputs.append(helper.make_tensor_value_info(f"b{i}", TensorProto.FLOAT, list(b.shape)))
            arrays[f"b{i}"] = b.numpy()
        else:
            inits.append(numpy_helper.from_array(b.numpy(), f"b{i}"))
        y = alpha * ((a.T if ta else a) @ (b.T if tb else b))
        if c_shape is not None:
            c = torch.randn(c_shape, generator=gen)
            inits.append(numpy_helper.from_array(c.numpy(), f"c{i}"))
            names.append(f"c{i}")
            y = y + beta * c
        nodes.append(helper.make_node("Gemm", names, [f"y{i}"], name=f"gemm{i}", transA=ta, transB=tb, alpha=alpha,
                                      beta=beta))
        outputs.append(helper.make_tensor_value_info(f"y{i}", TensorProto.FLOAT, list(y.shape)))
        arrays[f"y{i}"] = y.numpy()
    graph = helper.make_graph(nodes, "gemm_attributes", inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(OUT, "gemm_attributes_opset13.onnx"))
    np.savez(os.path.join(OUT, "gemm_attributes_opset13.npz"), **arrays)
    print("wrote gemm_attributes_opset13")


def main():
    os.makedirs(OUT, exist_ok=True)
    lines = []
    gemm_attributes()
    lines.append("gemm_attributes_opset13 - gemm 13")
    for seed, (config, opset) in enumerate(EXPORTS):
        img, dim_in, max_dim, domains, style_dim, latent, hidden, batch, w_hpf, mask_size = nets_def.CONFIGS[config]
        g, f = load(config)
        gen = torch.Generator().manual_seed(300 + seed)
        n = 2 if w_hpf > 0 else 3  # the 64 px files are the largest
        z = torch.randn(n, latent, generator=gen)
        y = torch.tensor([(k + 1) % domains for k in range(n)], dtype=torch.int64)  # not arange: order matters
        x = torch.rand(n, 3, img, img, generator=gen) * 2 - 1
        stem = f"sg2_{config}"
        s = export(f, [z, y], ["z", "y"], "s", f"{stem}_mapping_opset{opset}", opset)
        lines.append(f"{stem}_mapping_opset{opset} {config} mapping {opset}")
        inputs, names = [x, s], ["x", "s"]
        if w_hpf > 0:
            inputs += [torch.rand(n, 1, mask_size, mask_size, generator=gen) for _ in range(2)]
            names += ["mask0", "mask1"]
        out = export(g, inputs, names, "out", f"{stem}_generator_opset{opset}", opset)
        with torch.no_grad():  # TracedGen computes what the zoo's Gen does
            masks = tuple(inputs[2:]) or None
            assert torch.equal(out, nets_def.Gen.forward(g, x, s, masks)), config
        lines.append(f"{stem}_generator_opset{opset} {config} generator {opset}")
    with open(os.path.join(OUT, "manifest.txt"), "w") as manifest:
        manifest.write(f"# generated by gen_stargan_v2_onnx_fixtures.py with torch {torch.__version__}:"
                       " name config net opset\n")
        manifest.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
