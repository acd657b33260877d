/**
 * Implementations of the vertices configured in {@code io.github.instancenorm.zoo.conf.graph}.
 */
package io.github.instancenorm.zoo.layers.graph;
