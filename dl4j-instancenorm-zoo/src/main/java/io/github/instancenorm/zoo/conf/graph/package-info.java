/**
 * Configurations of the graph vertices the zoo's GAN graphs need: a label vector tiled over the image and
 * concatenated to it, and a tap that keeps the gradient with respect to an input (DL4J discards it). Their class
 * names are written into a saved graph's JSON.
 */
package io.github.instancenorm.zoo.conf.graph;
