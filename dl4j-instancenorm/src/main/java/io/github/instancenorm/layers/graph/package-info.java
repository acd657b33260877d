/** Implementations of the vertices configured in {@code io.github.instancenorm.conf.graph}. */
package io.github.instancenorm.layers.graph;
