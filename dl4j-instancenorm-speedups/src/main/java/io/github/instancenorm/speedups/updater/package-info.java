/**
 * A cheaper optimizer step for DL4J networks: {@link io.github.instancenorm.speedups.updater.FastUpdaters#install} gives a
 * network an updater that keeps DL4J's arithmetic but avoids the external-gradient path and runs Adam's step in Java
 * vector loops.
 */
package io.github.instancenorm.speedups.updater;
