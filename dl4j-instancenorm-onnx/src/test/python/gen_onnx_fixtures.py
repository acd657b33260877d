#!/usr/bin/env python3
"""ONNX fixtures for dl4j-instancenorm-onnx, exported by real torch.onnx.export, with PyTorch's outputs.

    /usr/bin/python3 dl4j-instancenorm-onnx/src/test/python/gen_onnx_fixtures.py             # small, committed
    /usr/bin/python3 dl4j-instancenorm-onnx/src/test/python/gen_onnx_fixtures.py --full DIR  # StarGAN-sized, not committed

For each <name>.onnx it writes <name>.npz: the model's inputs and PyTorch's outputs, keyed by their ONNX names, and
a line in manifest.txt: "<name> <checkpoint or -> <statistics: RUNNING|INSTANCE|->".

- stargan_*: yunjey/stargan's Generator (../../../../dl4j-instancenorm-zoo/src/test/python/stargan_model.py),
  trained a few Adam steps so its running statistics moved, saved as stargan_G.ckpt. Three forms, each at opset 11
  and at the newest opset this PyTorch writes:
    eval       G.eval(), track_running_stats=True: BatchNormalization with the running statistics tiled N times
    train      G.train(), training=TrainingMode.PRESERVE: BatchNormalization in its training form (StarGAN's test());
               at opset 11 and the newest that PyTorch exports this form at (see Writer.export_newest)
    norunning  track_running_stats=False: InstanceNormalization
- convtranspose_grid: nn.ConvTranspose2d over strides, paddings, output paddings, dilations, kernels, bias.
- convtranspose_asymmetric: one ConvTranspose node with asymmetric pads (PyTorch's exporter writes symmetric
  ones), written with onnx.helper; PyTorch computes the expected output from the unpadded transposed convolution.
- instancenorm_ranks_*: InstanceNorm1d/2d/3d, affine or not, in the three forms above.
- batchnorm_training_mode_opset15: BatchNormalization with training_mode=1, written with onnx.helper.
- cyclegan, pix2pix: small generators in the style of junyanz/pytorch-CycleGAN-and-pix2pix (ResNet blocks with
  ReflectionPad2d; a U-Net with LeakyReLU and skip connections), norm_layer=InstanceNorm2d as their --norm instance.
"""
import argparse
import copy
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "..", "dl4j-instancenorm-zoo", "src", "test", "python"))
from stargan_model import Discriminator, Generator  # noqa: E402
from gen_stargan_fixtures import train_a_little  # noqa: E402

SMALL_OUT = os.path.join(HERE, "..", "resources", "fixtures", "onnx")
NEWEST = torch.onnx._constants.ONNX_MAX_OPSET
OPSETS = (11, NEWEST)


class Writer:
    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.lines = []
        os.makedirs(out_dir, exist_ok=True)

    def export(self, name, model, inputs, input_names, output_names, training=False, checkpoint="-",
               statistics="-", opset=11):
        """Exports model (a deep copy: a train-mode trace moves running statistics) and records its outputs."""
        path = os.path.join(self.out_dir, name + ".onnx")
        mode = torch.onnx.TrainingMode.PRESERVE if training else torch.onnx.TrainingMode.EVAL
        torch.onnx.export(copy.deepcopy(model), tuple(inputs), path, opset_version=opset, input_names=input_names,
                          output_names=output_names, training=mode, do_constant_folding=not training)
        with torch.no_grad():
            outputs = copy.deepcopy(model)(*inputs)
        if isinstance(outputs, torch.Tensor):
            outputs = (outputs,)
        arrays = {n: t.numpy() for n, t in zip(input_names, inputs)}
        arrays.update({n: t.numpy() for n, t in zip(output_names, outputs)})
        self.save(name, arrays, checkpoint, statistics)

    def export_newest(self, stem, model, inputs, input_names, output_names, training=False, **kw):
        """Exports at the newest opset that PyTorch can write for this model, named <stem>_opset<N>.

        PyTorch 1.13 cannot write the train-mode export of an instance norm with running statistics at opsets 14
        and above: it refuses it when the batch size is not a constant of the trace ("Unsupported: ONNX export of
        instance_norm training for unknown batch size"), and otherwise writes a BatchNormalization with 5 outputs,
        which its own checker rejects (opset 14 allows 3). So the train forms are written at opset 13."""
        for opset in range(NEWEST, 11, -1):
            try:
                self.export(f"{stem}_opset{opset}", model, inputs, input_names, output_names, training, opset=opset,
                            **kw)
                return
            except Exception as e:  # noqa: BLE001 - the exporter's refusal, or the checker's (ValidationError)
                if type(e).__name__ not in ("SymbolicValueError", "ValidationError", "CheckerError"):
                    raise
                path = os.path.join(self.out_dir, f"{stem}_opset{opset}.onnx")
                if os.path.exists(path):
                    os.remove(path)
                print(f"{stem}: opset {opset} refused by the exporter ({str(e).splitlines()[0][:80]})")
        raise RuntimeError(stem + ": no opset above 11 exports")

    def save(self, name, arrays, checkpoint="-", statistics="-"):
        np.savez(os.path.join(self.out_dir, name + ".npz"), **arrays)
        self.lines.append(f"{name} {checkpoint} {statistics}")
        print("wrote", name)

    def close(self):
        with open(os.path.join(self.out_dir, "manifest.txt"), "w") as f:
            f.write(f"# generated by gen_onnx_fixtures.py with torch {torch.__version__}: name checkpoint statistics\n")
            f.write("\n".join(self.lines) + "\n")


def without_running_stats(model):
    m = copy.deepcopy(model)
    for mod in m.modules():
        if isinstance(mod, nn.modules.instancenorm._InstanceNorm):
            mod.track_running_stats = False
            mod.running_mean = None
            mod.running_var = None
            mod.num_batches_tracked = None
    return m


def stargan(w, conv_dim, c_dim, repeat, image_size, batch, opsets):
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    G = Generator(conv_dim, c_dim, repeat)
    D = Discriminator(image_size, conv_dim, c_dim, 2)
    train_a_little(G, D, image_size, c_dim, 3, gen)
    torch.save(G.state_dict(), os.path.join(w.out_dir, "stargan_G.ckpt"))
    x = torch.rand(batch, 3, image_size, image_size, generator=gen) * 2 - 1
    c = (torch.rand(batch, c_dim, generator=gen) > 0.5).float()
    ckpt = dict(checkpoint="stargan_G.ckpt")
    for opset in opsets:
        w.export(f"stargan_eval_opset{opset}", G.eval(), [x, c], ["x", "c"], ["y"], statistics="RUNNING",
                 opset=opset, **ckpt)
        w.export(f"stargan_norunning_opset{opset}", without_running_stats(G).eval(), [x, c], ["x", "c"], ["y"],
                 statistics="INSTANCE", opset=opset, **ckpt)
    if 11 in opsets:
        w.export("stargan_train_opset11", G.train(), [x, c], ["x", "c"], ["y"], training=True,
                 statistics="INSTANCE", opset=11, **ckpt)
    w.export_newest("stargan_train", G.train(), [x, c], ["x", "c"], ["y"], training=True, statistics="INSTANCE",
                    **ckpt)


class Many(nn.Module):
    """Several independent modules, one input and one output each."""

    def __init__(self, modules):
        super().__init__()
        self.parts = nn.ModuleList(modules)

    def forward(self, *xs):
        return tuple(m(x) for m, x in zip(self.parts, xs))


def convtranspose_grid(w, gen):
    # (c_in, c_out, kernel, stride, padding, output_padding, dilation, bias, H, W)
    grid = [
        (8, 4, 4, 2, 1, 0, 1, False, 5, 5),   # StarGAN's up-sampling
        (4, 3, 3, 2, 1, 1, 1, True, 6, 5),    # CycleGAN's
        (3, 5, 3, 1, 0, 0, 1, True, 4, 6),
        (3, 2, 3, 1, 1, 0, 1, False, 5, 5),
        (2, 3, (3, 2), (2, 1), (1, 0), 0, 1, True, 4, 5),
        (3, 2, 5, 3, 2, (2, 1), 1, True, 3, 4),
        (2, 2, 3, 2, 0, 1, 1, True, 3, 3),    # output padding beyond the padding: a row of bias only
        (2, 3, 3, 1, 1, 0, 2, True, 5, 4),    # dilation
        (3, 2, (2, 3), 2, 1, 1, (2, 1), False, 4, 4),
        (2, 2, 1, 1, 0, 0, 1, True, 3, 3),
    ]
    mods, xs = [], []
    for cin, cout, k, s, p, op, d, b, h, wd in grid:
        mods.append(nn.ConvTranspose2d(cin, cout, k, stride=s, padding=p, output_padding=op, dilation=d, bias=b))
        xs.append(torch.randn(2, cin, h, wd, generator=gen))
    m = Many(mods).eval()
    n = len(grid)
    for opset in OPSETS:
        w.export(f"convtranspose_grid_opset{opset}", m, xs, [f"x{i}" for i in range(n)], [f"y{i}" for i in range(n)],
                 opset=opset)


def convtranspose_asymmetric(w, gen):
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    cin, cout, k, stride = 3, 2, 3, (2, 2)
    pads = [0, 1, 2, 0]            # begin H, begin W, end H, end W
    output_padding = [1, 1]
    x = torch.randn(2, cin, 4, 5, generator=gen)
    weight = torch.randn(cin, cout, k, k, generator=gen)
    bias = torch.randn(cout, generator=gen)
    full = F.conv_transpose2d(x, weight, None, stride=stride)          # no padding
    full = F.pad(full, (0, output_padding[1], 0, output_padding[0]))  # rows past the full result
    hb, wb, he, we = pads
    y = full[:, :, hb:full.shape[2] - he, wb:full.shape[3] - we] + bias.view(1, -1, 1, 1)
    node = helper.make_node("ConvTranspose", ["x", "w", "b"], ["y"], name="asymmetric", kernel_shape=[k, k],
                            strides=list(stride), pads=pads, output_padding=output_padding)
    graph = helper.make_graph(
        [node], "convtranspose_asymmetric",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(y.shape))],
        initializer=[numpy_helper.from_array(weight.numpy(), "w"), numpy_helper.from_array(bias.numpy(), "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(w.out_dir, "convtranspose_asymmetric.onnx"))
    w.save("convtranspose_asymmetric", {"x": x.numpy(), "y": y.numpy()})


def batchnorm_training_mode(w, gen):
    """BatchNormalization with training_mode=1 (opset 15), which PyTorch 1.13 cannot write (see export_newest):
    one node written with onnx.helper, its outputs computed by PyTorch (F.batch_norm in training mode, and the
    running outputs by ONNX's formula: running * momentum + batch statistic * (1 - momentum), biased variance)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    x = torch.randn(3, 4, 5, 2, generator=gen) * 1.5 + 0.5
    scale, bias = torch.rand(4, generator=gen) + 0.5, torch.randn(4, generator=gen)
    mean, var = torch.randn(4, generator=gen), torch.rand(4, generator=gen) + 0.5
    eps, momentum = 1e-3, 0.8
    y = F.batch_norm(x, mean.clone(), var.clone(), scale, bias, training=True, momentum=0.0, eps=eps)
    batch_mean = x.mean(dim=(0, 2, 3))
    batch_var = x.var(dim=(0, 2, 3), unbiased=False)
    node = helper.make_node("BatchNormalization", ["x", "scale", "b", "mean", "var"], ["y", "running_mean", "running_var"],
                            name="bn_training", epsilon=eps, momentum=momentum, training_mode=1)
    inits = [numpy_helper.from_array(t.numpy(), n) for t, n in
             [(scale, "scale"), (bias, "b"), (mean, "mean"), (var, "var")]]
    out = [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(x.shape)),
           helper.make_tensor_value_info("running_mean", TensorProto.FLOAT, [4]),
           helper.make_tensor_value_info("running_var", TensorProto.FLOAT, [4])]
    graph = helper.make_graph([node], "bn_training_mode",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))], out,
                              initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(w.out_dir, "batchnorm_training_mode_opset15.onnx"))
    w.save("batchnorm_training_mode_opset15", {
        "x": x.numpy(), "y": y.numpy(),
        "running_mean": (mean * momentum + batch_mean * (1 - momentum)).numpy(),
        "running_var": (var * momentum + batch_var * (1 - momentum)).numpy()})


def instancenorm_ranks(w, gen):
    def norms(track):
        return [nn.InstanceNorm1d(3, affine=True, track_running_stats=track),
                nn.InstanceNorm2d(4, affine=False, track_running_stats=track),
                nn.InstanceNorm2d(2, affine=True, track_running_stats=track, eps=1e-3),
                nn.InstanceNorm3d(2, affine=True, track_running_stats=track)]
    shapes = [(2, 3, 7), (3, 4, 5, 6), (2, 2, 3, 3), (2, 2, 3, 4, 5)]
    running = Many(norms(True))
    plain = Many(norms(False))
    for mod, p in zip(list(running.parts) + list(plain.parts), [None] * 8):
        if mod.affine:
            with torch.no_grad():
                mod.weight.copy_(torch.rand(mod.num_features, generator=gen) + 0.5)
                mod.bias.copy_(torch.randn(mod.num_features, generator=gen))
        if mod.track_running_stats:
            with torch.no_grad():
                mod.running_mean.copy_(torch.randn(mod.num_features, generator=gen))
                mod.running_var.copy_(torch.rand(mod.num_features, generator=gen) + 0.5)
    xs = [torch.randn(*s, generator=gen) * 2 + 1 for s in shapes]
    names_in = [f"x{i}" for i in range(4)]
    names_out = [f"y{i}" for i in range(4)]
    for opset in OPSETS:
        w.export(f"instancenorm_ranks_eval_opset{opset}", running.eval(), xs, names_in, names_out, opset=opset)
        w.export(f"instancenorm_ranks_norunning_opset{opset}", plain.eval(), xs, names_in, names_out, opset=opset)
    w.export("instancenorm_ranks_train_opset11", running.train(), xs, names_in, names_out, training=True, opset=11)
    w.export_newest("instancenorm_ranks_train", running.train(), xs, names_in, names_out, training=True)


class ResnetBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=True), nn.InstanceNorm2d(dim), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=True), nn.InstanceNorm2d(dim))

    def forward(self, x):
        return x + self.conv_block(x)


def cyclegan_generator(ngf=4, blocks=2):
    layers = [nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7, bias=True), nn.InstanceNorm2d(ngf), nn.ReLU(True),
              nn.Conv2d(ngf, ngf * 2, 3, stride=2, padding=1, bias=True), nn.InstanceNorm2d(ngf * 2), nn.ReLU(True)]
    layers += [ResnetBlock(ngf * 2) for _ in range(blocks)]
    layers += [nn.ConvTranspose2d(ngf * 2, ngf, 3, stride=2, padding=1, output_padding=1, bias=True),
               nn.InstanceNorm2d(ngf), nn.ReLU(True),
               nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Tanh()]
    return nn.Sequential(*layers)


class UNet(nn.Module):
    """Two levels of pix2pix's U-Net: Conv(4, 2, 1) down with LeakyReLU(0.2), ConvTranspose(4, 2, 1) up, skips."""

    def __init__(self, ngf=4):
        super().__init__()
        self.down1 = nn.Conv2d(3, ngf, 4, 2, 1, bias=True)
        self.down2 = nn.Sequential(nn.LeakyReLU(0.2, True), nn.Conv2d(ngf, ngf * 2, 4, 2, 1, bias=True),
                                   nn.InstanceNorm2d(ngf * 2))
        self.inner = nn.Sequential(nn.LeakyReLU(0.2, True), nn.Conv2d(ngf * 2, ngf * 2, 4, 2, 1, bias=True),
                                   nn.ReLU(True), nn.ConvTranspose2d(ngf * 2, ngf * 2, 4, 2, 1, bias=True),
                                   nn.InstanceNorm2d(ngf * 2))
        self.up2 = nn.Sequential(nn.ReLU(True), nn.ConvTranspose2d(ngf * 4, ngf, 4, 2, 1, bias=True),
                                 nn.InstanceNorm2d(ngf))
        self.up1 = nn.Sequential(nn.ReLU(True), nn.ConvTranspose2d(ngf * 2, 3, 4, 2, 1), nn.Tanh())

    def forward(self, x):
        d1 = self.down1(x)
        d2 = self.down2(d1)
        u2 = self.up2(torch.cat([d2, self.inner(d2)], 1))
        return self.up1(torch.cat([d1, u2], 1))


def gans(w, gen):
    torch.manual_seed(2)
    x = torch.rand(2, 3, 16, 16, generator=gen) * 2 - 1
    for opset in OPSETS:
        w.export(f"cyclegan_opset{opset}", cyclegan_generator().eval(), [x], ["x"], ["y"], opset=opset)
    torch.manual_seed(3)
    w.export("pix2pix_opset11", UNet().eval(), [x], ["x"], ["y"], opset=11)


def refused(out_dir):
    """Files the importer must refuse with the node named: an op neither M2.1 nor the hooks import, and a grouped
    transposed convolution. Not in the manifest."""
    import onnx
    from onnx import TensorProto, helper
    os.makedirs(out_dir, exist_ok=True)
    nodes = [helper.make_node("Relu", ["x"], ["h"], name="first_relu"),
             helper.make_node("Celu", ["h"], ["y"], name="my_celu", alpha=1.0)]
    graph = helper.make_graph(nodes, "unmapped", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]),
              os.path.join(out_dir, "unmapped_op.onnx"))
    torch.onnx.export(nn.ConvTranspose2d(4, 4, 3, groups=2).eval(), (torch.zeros(1, 4, 5, 5),),
                      os.path.join(out_dir, "grouped_convtranspose.onnx"), opset_version=11, input_names=["x"],
                      output_names=["y"])
    print("wrote refused/")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--full", metavar="DIR", help="write StarGAN-sized exports (conv_dim 64, 6 blocks, 128 px) to DIR")
    a = p.parse_args()
    if a.full:
        w = Writer(a.full)
        stargan(w, 64, 5, 6, 128, 2, (NEWEST,))
    else:
        w = Writer(SMALL_OUT)
        stargan(w, 4, 3, 2, 16, 2, OPSETS)
        gen = torch.Generator().manual_seed(7)
        convtranspose_grid(w, gen)
        convtranspose_asymmetric(w, gen)
        instancenorm_ranks(w, gen)
        batchnorm_training_mode(w, gen)
        gans(w, gen)
        refused(os.path.join(SMALL_OUT, "refused"))
    w.close()


if __name__ == "__main__":
    main()
