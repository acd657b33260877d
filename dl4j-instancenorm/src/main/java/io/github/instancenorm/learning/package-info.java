/**
 * Training configurations that DL4J writes into a saved network's JSON: learning-rate schedules and updater
 * configurations. They live in the core artifact so that loading a saved network never needs the trainers or the
 * speed-ups.
 */
package io.github.instancenorm.learning;
