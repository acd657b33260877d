package io.github.instancenorm.benchmarks;

import io.github.instancenorm.speedups.conv.FastConvolutions;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.CnnLossLayer;
import org.deeplearning4j.nn.conf.layers.Deconvolution2D;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * One {@code Deconvolution2D} layer (4×4, stride 2, padding 1, no bias, identity activation: StarGAN's upsampling),
 * forward in training mode and backward, in DL4J's own layer ({@code path=dl4j}: libnd4j's {@code deconv2d} and
 * {@code deconv2d_bp}) and in the layer {@link FastConvolutions#install} puts in its place ({@code path=onednn}).
 *
 * <p>Parameter {@code shape}: {@code N x C x H x W > O}; the defaults are StarGAN's two upsampling layers at its
 * benchmark batch (2) and the example's two at batch 16 (conv_dim 8).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(
        value = 1,
        jvmArgsAppend = {
            "-Xmx2g",
            "-Dorg.bytedeco.javacpp.maxbytes=4G",
            "-Dorg.bytedeco.javacpp.maxphysicalbytes=8G",
            "--add-modules",
            "jdk.incubator.vector"
        })
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class DeconvolutionBenchmark {

    /** Input shape and output channels. */
    @Param({"2x256x32x32>128", "2x128x64x64>64", "16x16x8x8>8", "16x8x16x16>4"})
    public String shape;

    /** {@code dl4j}: DL4J's layer; {@code onednn}: after {@link FastConvolutions#install}. */
    @Param({"dl4j", "onednn"})
    public String path;

    private Layer layer;
    private INDArray input;
    private INDArray epsilon;
    private final LayerWorkspaceMgr workspaces = LayerWorkspaceMgr.noWorkspaces();

    /** Builds the layer (in a one-layer network) and random arrays. */
    @Setup(Level.Trial)
    public void setUp() {
        String[] parts = shape.split(">");
        long[] in =
                Arrays.stream(parts[0].split("x")).mapToLong(Long::parseLong).toArray();
        int out = Integer.parseInt(parts[1]);
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder()
                .seed(1)
                .dataType(DataType.FLOAT)
                .list()
                .layer(new Deconvolution2D.Builder()
                        .kernelSize(4, 4)
                        .stride(2, 2)
                        .padding(1, 1)
                        .nOut(out)
                        .hasBias(false)
                        .activation(Activation.IDENTITY)
                        .build())
                .layer(new CnnLossLayer.Builder(LossFunctions.LossFunction.MSE)
                        .activation(Activation.IDENTITY)
                        .build())
                .setInputType(InputType.convolutional(in[2], in[3], in[1]))
                .build());
        net.init();
        net.initGradientsView();
        if (path.equals("onednn")) {
            FastConvolutions.install(net);
        }
        layer = net.getLayer(0);
        input = Nd4j.rand(DataType.FLOAT, in).subi(0.5);
        epsilon = Nd4j.rand(DataType.FLOAT, in[0], out, 2 * in[2], 2 * in[3]).subi(0.5);
    }

    /** @return the layer's output */
    @Benchmark
    public INDArray forward() {
        layer.setInput(input, workspaces);
        return layer.activate(true, workspaces);
    }

    /** @return the gradients, after a forward in training mode */
    @Benchmark
    public Pair<Gradient, INDArray> forwardBackward() {
        layer.setInput(input, workspaces);
        layer.activate(true, workspaces);
        return layer.backpropGradient(epsilon, workspaces);
    }
}
