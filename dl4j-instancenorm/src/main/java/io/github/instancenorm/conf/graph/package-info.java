/**
 * Configurations of graph vertices: adaptive instance normalization, whose scale and shift are another input of
 * the graph. Their class names are written into a saved graph's JSON.
 */
package io.github.instancenorm.conf.graph;
