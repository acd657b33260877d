/**
 * InstanceNormalization trained on Spark and with {@code ParallelWrapper}: the statistics pass on an RDD
 * ({@link io.github.instancenorm.spark.SparkStatisticsPass}), training followed by it on Spark
 * ({@link io.github.instancenorm.spark.SparkTrainingWithStatistics}, which makes gradient sharing usable with running
 * statistics) and on one machine ({@link io.github.instancenorm.spark.ParallelTrainingWithStatistics}), the speed-ups
 * on every replica ({@link io.github.instancenorm.spark.ReplicaSpeedups}), and
 * {@link io.github.instancenorm.spark.TrainOnSpark}, a small program for {@code spark-submit} (or local mode) that
 * trains with {@code ParameterAveragingTrainingMaster} and prints the running statistics it got back.
 */
package io.github.instancenorm.spark;
