/**
 * Training data for the trainers: {@link io.github.instancenorm.train.data.DomainImages}, a multi-domain image set
 * read from StarGAN v2's folder-per-domain layout (or built from arrays), with the source and reference streams a
 * StarGAN v2 iteration consumes as DL4J {@link org.nd4j.linalg.dataset.api.iterator.MultiDataSetIterator}s.
 */
package io.github.instancenorm.train.data;
