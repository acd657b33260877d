package io.github.instancenorm.speedups.conv;

import static io.github.instancenorm.testutil.Compare.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.instancenorm.speedups.Speedups;
import io.github.instancenorm.zoo.StarGan;
import java.util.Map;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * {@link FastConvolutions} on the zoo's StarGAN graphs: the helper goes into every {@code ConvolutionLayer}, and
 * outputs, gradients and running statistics equal DL4J's own path. In the {@code conv} package to see the
 * package-private helper class; the grid of single convolutions is {@code FastConvolutionsTest}.
 */
class StarGanConvolutionsTest {

    private static final double TOL = 1e-4;

    private static void assumeOneDnn() {
        assumeTrue(
                FastConvolutions.path() == FastConvolutions.Path.ONEDNN,
                "no oneDNN in this nd4j-native build (nd4j.classifier without -onednn)");
    }

    @Test
    void starGanGraphsMatchDl4j() {
        assumeOneDnn();
        INDArray image = Nd4j.rand(DataType.FLOAT, 2, 3, 16, 16).muli(2).subi(1);
        INDArray label = Nd4j.rand(DataType.FLOAT, 2, 3).gt(0.5).castTo(DataType.FLOAT);
        StarGan.GeneratorBuilder g =
                StarGan.generator().convDim(4).cDim(3).repeatNum(1).imageSize(16);
        ComputationGraph referenceG = new ComputationGraph(g.configuration());
        referenceG.init();
        ComputationGraph fastG = g.build();
        assertEquals(0, countHelpers(fastG), "the zoo builds plain DL4J graphs");
        int deconvolutions = OneDnnConvolutionHelper.DIRECT_UNAVAILABLE == null ? 2 : 0;
        assertEquals(6 + deconvolutions, Speedups.install(fastG).oneDnnConvolutions());
        assertEquals(6, countHelpers(fastG), "the generator's six convolutions have the helper");
        assertEquals(deconvolutions, countReplaced(fastG), "its two deconvolutions are oneDNN's layer");
        assertEquals(0, countHelpers(referenceG));
        fastG.setParams(referenceG.params().dup());
        compareSteps("generator", referenceG, fastG, image, label);

        StarGan.DiscriminatorBuilder d =
                StarGan.discriminator().convDim(4).cDim(3).repeatNum(2).imageSize(16);
        ComputationGraph referenceD = new ComputationGraph(d.configuration());
        referenceD.init();
        ComputationGraph fastD = d.build();
        assertEquals(4, Speedups.install(fastD).oneDnnConvolutions());
        assertEquals(4, countHelpers(fastD));
        fastD.setParams(referenceD.params().dup());
        compareSteps("discriminator", referenceD, fastD, image);
    }

    private static int countReplaced(ComputationGraph graph) {
        int n = 0;
        for (org.deeplearning4j.nn.api.Layer layer : graph.getLayers()) {
            if (layer instanceof OneDnnDeconvolution2DLayer) {
                n++;
            }
        }
        return n;
    }

    private static int countHelpers(ComputationGraph graph) {
        int n = 0;
        for (org.deeplearning4j.nn.api.Layer layer : graph.getLayers()) {
            if (layer.getHelper() instanceof OneDnnConvolutionHelper) {
                n++;
            }
        }
        return n;
    }

    /** Two training forwards and backwards; outputs, gradients and the running statistics must agree. */
    private static void compareSteps(
            String what, ComputationGraph reference, ComputationGraph fast, INDArray... inputs) {
        for (int step = 0; step < 2; step++) {
            Map<String, INDArray> e = reference.feedForward(inputs, true, false);
            Map<String, INDArray> a = fast.feedForward(inputs, true, false);
            INDArray[] eOut = reference.output(true, inputs);
            INDArray[] aOut = fast.output(true, inputs);
            INDArray[] eps = new INDArray[eOut.length];
            for (int k = 0; k < eOut.length; k++) {
                assertClose(what + " output " + k, eOut[k], aOut[k], TOL);
                eps[k] = Nd4j.rand(DataType.FLOAT, eOut[k].shape()).subi(0.5);
            }
            reference.feedForward(inputs, true, false);
            fast.feedForward(inputs, true, false);
            Gradient eg = reference.backpropGradient(eps);
            Gradient ag = fast.backpropGradient(eps);
            for (Map.Entry<String, INDArray> entry : eg.gradientForVariable().entrySet()) {
                assertClose(
                        what + " gradient " + entry.getKey(),
                        entry.getValue(),
                        ag.gradientForVariable().get(entry.getKey()),
                        TOL);
            }
            assertTrue(e.keySet().equals(a.keySet()));
        }
        assertClose(what + " parameters and running statistics", reference.params(), fast.params(), TOL);
    }
}
