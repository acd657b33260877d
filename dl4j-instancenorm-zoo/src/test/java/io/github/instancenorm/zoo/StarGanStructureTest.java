package io.github.instancenorm.zoo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.github.instancenorm.conf.InstanceNormalization;
import java.util.Arrays;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The zoo graphs have StarGAN's shapes and PyTorch's layer names.
 */
class StarGanStructureTest {

    @Test
    void defaultGeneratorHasStarGansLayout() {
        ComputationGraph g = StarGan.generator().build();
        long instanceNorms = Arrays.stream(g.getLayers())
                .filter(l -> l.conf().getLayer() instanceof InstanceNormalization)
                .count();
        assertEquals(17, instanceNorms, "StarGAN's generator has 17 instance norms");
        assertArrayEquals(
                new long[] {64, 8, 7, 7}, g.getLayer("main.0").getParam("W").shape());
        assertArrayEquals(
                new long[] {256, 256, 3, 3},
                g.getLayer("main.14.main.3").getParam("W").shape());
        assertNotNull(g.getLayer("main.19"), "last up-sampling instance norm");
        assertEquals("main.22", StarGan.generatorOutput(6));
    }

    @Test
    void generatorAndDiscriminatorShapes() {
        ComputationGraph g = StarGan.generator()
                .convDim(8)
                .cDim(3)
                .repeatNum(2)
                .imageSize(32)
                .build();
        ComputationGraph d = StarGan.discriminator()
                .convDim(8)
                .cDim(3)
                .repeatNum(3)
                .imageSize(32)
                .build();
        INDArray image = Nd4j.rand(DataType.FLOAT, 2, 3, 32, 32);
        INDArray label = Nd4j.create(new float[][] {{1, 0, 1}, {0, 1, 0}});
        INDArray fake = g.outputSingle(image, label);
        assertArrayEquals(new long[] {2, 3, 32, 32}, fake.shape());
        INDArray[] out = d.output(fake);
        assertArrayEquals(new long[] {2, 1, 4, 4}, out[0].shape());
        assertArrayEquals(new long[] {2, 3}, out[1].shape());
    }

    @Test
    void rejectsSizesTheNetworksCannotTake() {
        assertThrows(
                IllegalArgumentException.class,
                () -> StarGan.discriminator().imageSize(100).repeatNum(6).configuration());
        assertThrows(
                IllegalArgumentException.class,
                () -> StarGan.generator().imageSize(30).configuration());
        assertThrows(IllegalArgumentException.class, () -> StarGan.generator().convDim(0));
    }
}
