/**
 * What a person looks at during and after training: {@link io.github.instancenorm.train.report.TrainingReport}, a
 * folder with loss charts, the latest values and the sample images on one offline HTML page.
 */
package io.github.instancenorm.train.report;
