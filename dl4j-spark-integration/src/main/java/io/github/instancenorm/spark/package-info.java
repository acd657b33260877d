/**
 * InstanceNormalization trained on Spark with dl4j-spark: {@link io.github.instancenorm.spark.TrainOnSpark}, a
 * small program for {@code spark-submit} (or local mode) that trains with {@code ParameterAveragingTrainingMaster}
 * and prints the running statistics it got back.
 */
package io.github.instancenorm.spark;
