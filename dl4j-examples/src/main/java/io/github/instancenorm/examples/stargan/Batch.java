package io.github.instancenorm.examples.stargan;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * A minibatch of images with their domain labels.
 *
 * @param images {@code [N, 3, S, S]} RGB in [-1, 1]
 * @param labels {@code [N, L]} 0/1 attribute values
 * @param masks  {@code [N, S, S]} 1 where the image's content (the shape) is, or {@code null} when unknown
 */
public record Batch(INDArray images, INDArray labels, INDArray masks) {}
