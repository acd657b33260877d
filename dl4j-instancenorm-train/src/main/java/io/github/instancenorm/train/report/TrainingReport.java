package io.github.instancenorm.train.report;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.image.BufferedImage;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import javax.imageio.ImageIO;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

/**
 * A training report that a person opens in a browser: loss curves drawn as PNG charts, a table of the latest
 * values and the sample images over time, on one HTML page that works offline.
 *
 * <p>The trainer records named values ({@link #scalar}) and images ({@link #image}) as it goes, and calls
 * {@link #write} whenever the page should show them (after each sample grid, say, and at the end). The directory
 * then holds:
 *
 * <ul>
 *   <li>{@code index.html}: the title, one chart per group, the latest value of every series, and the sample
 *       images, newest first, each captioned with its iteration. No scripts, fonts or styles from the network;
 *       every link is relative, so the folder can be copied or zipped as a whole;</li>
 *   <li>{@code charts/*.png}: one line chart per group ({@link #CHART_WIDTH} × {@link #CHART_HEIGHT} unless
 *       {@link #chartSize} says otherwise), x the iteration. A series' group is its name up to the first
 *       {@code /} ({@code "D/real"} and {@code "D/fake"} share the chart {@code D}), or the whole name when it
 *       has none;</li>
 *   <li>{@code losses.csv}: every recorded value, {@code iteration,name,value} (RFC 4180; a non-finite value as
 *       {@code NaN}, {@code Infinity} or {@code -Infinity}), in the order recorded;</li>
 *   <li>{@code samples/*.png}: the images, written when recorded, and {@code samples.csv}, their list
 *       ({@code iteration,caption,file,width,height}), which {@link #resume} reads.</li>
 * </ul>
 *
 * <p>Non-finite values (a diverged loss) are kept in {@code losses.csv} and the table but are not plotted, and the
 * page says how many each series has and where the first one was. Every file is replaced atomically (written
 * beside its target, then moved over it), so a browser or a copy taken during training never sees half a file;
 * {@code index.html} is written last, so it names only charts that are already in place.
 *
 * <p>The methods are synchronized: a trainer may record from one thread and write from another. A call that
 * throws changes nothing in the report.
 *
 * <pre>{@code
 * TrainingReport report = TrainingReport.create(Path.of("runs/afhq/report"), "StarGAN v2 on AFHQ");
 * for (long it = 1; it <= iterations; it++) {
 *     ...
 *     report.scalars(it, Map.of("D/real", dReal, "D/fake", dFake, "G/adv", gAdv));
 *     if (it % 1000 == 0) {
 *         report.image(it, "latent-guided", grid);
 *         report.write();
 *     }
 * }
 * Path page = report.write();
 * }</pre>
 */
public final class TrainingReport {

    /** The charts' default width in pixels. */
    public static final int CHART_WIDTH = 800;

    /** The charts' default height in pixels. */
    public static final int CHART_HEIGHT = 320;

    /** The page's file name inside the report directory. */
    public static final String INDEX = "index.html";

    /** The values' file name inside the report directory. */
    public static final String LOSSES = "losses.csv";

    private static final String SAMPLES_DIR = "samples";
    private static final String SAMPLES_LIST = "samples.csv";
    private static final String CHARTS_DIR = "charts";

    /** Distinct on white and for most colour vision (Tableau 10, the default of matplotlib). */
    private static final Color[] PALETTE = {
        new Color(0x1f77b4),
        new Color(0xff7f0e),
        new Color(0x2ca02c),
        new Color(0xd62728),
        new Color(0x9467bd),
        new Color(0x8c564b),
        new Color(0xe377c2),
        new Color(0x7f7f7f),
        new Color(0xbcbd22),
        new Color(0x17becf)
    };

    /** Sample images narrower than this are shown enlarged (by a whole factor, up to 4) with sharp pixels. */
    private static final int SAMPLE_DISPLAY_WIDTH = 640;

    /** The table's recent mean is over this many points (GAN losses are noisy). */
    private static final int RECENT = 50;

    private final Path directory;
    private final String title;
    private final Map<String, Series> series = new LinkedHashMap<>();
    private final Map<String, String> chartFiles = new LinkedHashMap<>();
    private final List<Sample> samples = new ArrayList<>();
    private final Set<String> sampleFiles = new HashSet<>();
    private long nextSequence;
    private int chartWidth = CHART_WIDTH;
    private int chartHeight = CHART_HEIGHT;

    private TrainingReport(Path directory, String title) {
        this.directory = directory;
        this.title = title;
    }

    /**
     * A new, empty report in {@code directory}, which is created if needed. Files of an earlier report there are
     * replaced as this one writes its own; use {@link #resume} to continue one instead.
     *
     * @param directory where the page, charts and samples go
     * @param title     the page's title, e.g. {@code "StarGAN v2 on AFHQ"}
     * @return the report
     * @throws IOException if the directory cannot be created
     * @throws IllegalArgumentException if the directory is null or the title null or blank
     */
    public static TrainingReport create(Path directory, String title) throws IOException {
        checkArguments(directory, title);
        Files.createDirectories(directory);
        return new TrainingReport(directory, title);
    }

    /**
     * Continues the report that an earlier run wrote in {@code directory}: its values and samples recorded at or
     * before {@code lastIteration} (the checkpoint a run resumes from) are kept, later ones dropped, since the
     * resumed run does those iterations again. Without an earlier report this is {@link #create}.
     *
     * @param directory     the earlier report's directory
     * @param title         the page's title
     * @param lastIteration the last iteration to keep, {@code >= 0}
     * @return the report, holding the earlier values and samples
     * @throws IOException if the directory cannot be created or the earlier files read
     * @throws IllegalArgumentException if an earlier {@code losses.csv} or {@code samples.csv} is not one this
     *     class wrote, or an argument is bad
     */
    public static TrainingReport resume(Path directory, String title, long lastIteration) throws IOException {
        checkArguments(directory, title);
        checkIteration(lastIteration);
        TrainingReport report = create(directory, title);
        Path losses = directory.resolve(LOSSES);
        if (Files.exists(losses)) {
            List<List<String>> rows = Csv.read(losses, List.of("iteration", "name", "value"));
            for (List<String> row : rows) {
                long iteration = parseLong(row.get(0), losses);
                if (iteration <= lastIteration) {
                    checkName(row.get(1));
                    report.record(iteration, row.get(1), parseDouble(row.get(2), losses));
                }
            }
        }
        Path list = directory.resolve(SAMPLES_LIST);
        if (Files.exists(list)) {
            List<List<String>> rows = Csv.read(list, List.of("iteration", "caption", "file", "width", "height"));
            for (List<String> row : rows) {
                long iteration = parseLong(row.get(0), list);
                String file = row.get(2);
                if (iteration <= lastIteration && isSampleFile(file) && Files.isRegularFile(directory.resolve(file))) {
                    report.samples.add(new Sample(iteration, row.get(1), file, (int) parseLong(row.get(3), list), (int)
                            parseLong(row.get(4), list)));
                    report.sampleFiles.add(file);
                }
            }
        }
        return report;
    }

    /**
     * Sets the size of the charts that {@link #write} draws.
     *
     * @param width  pixels, 200 to 4000
     * @param height pixels, 100 to 4000
     * @return this report
     */
    public synchronized TrainingReport chartSize(int width, int height) {
        if (width < 200 || width > 4000 || height < 100 || height > 4000) {
            throw new IllegalArgumentException(
                    "chart size must be 200..4000 × 100..4000 pixels, got " + width + " × " + height);
        }
        this.chartWidth = width;
        this.chartHeight = height;
        return this;
    }

    /** @return the report's directory */
    public Path directory() {
        return directory;
    }

    /**
     * Records one point of a named series. A non-finite value is kept (in {@code losses.csv} and the table) but
     * not plotted.
     *
     * @param iteration the training iteration, {@code >= 0}
     * @param name      the series, e.g. {@code "D/real"}: the part before the first {@code /} names its chart
     * @param value     the value
     * @throws IllegalArgumentException if the name is null, blank or has an empty part around its first
     *     {@code /}, or the iteration is negative
     */
    public synchronized void scalar(long iteration, String name, double value) {
        checkIteration(iteration);
        checkName(name);
        record(iteration, name, value);
    }

    /**
     * Records one point of each named series, as {@link #scalar} does for each; all or none are recorded.
     *
     * @param iteration the training iteration, {@code >= 0}
     * @param values    series name to value, e.g. {@code Map.of("D/real", 0.7, "D/fake", 0.3)}; insertion order
     *     (of a {@code LinkedHashMap}) orders new series in their chart and the table
     * @throws IllegalArgumentException if a name or value is null, a name is not one {@link #scalar} takes, or the
     *     iteration is negative
     */
    public synchronized void scalars(long iteration, Map<String, ? extends Number> values) {
        checkIteration(iteration);
        if (values == null) {
            throw new IllegalArgumentException("values must not be null; pass a map of series name to value");
        }
        for (Map.Entry<String, ? extends Number> e : values.entrySet()) {
            checkName(e.getKey());
            if (e.getValue() == null) {
                throw new IllegalArgumentException("the value of \"" + e.getKey() + "\" at iteration " + iteration
                        + " is null; give a number (Double.NaN for a missing one)");
            }
        }
        for (Map.Entry<String, ? extends Number> e : values.entrySet()) {
            record(iteration, e.getKey(), e.getValue().doubleValue());
        }
    }

    /**
     * Saves an image (a sample grid, say) as a PNG under {@code samples/} now, and shows it on the page from the
     * next {@link #write}, captioned with its iteration and {@code caption}.
     *
     * @param iteration the training iteration, {@code >= 0}
     * @param caption   what the image shows, e.g. {@code "inputs, then one row per target domain"}; may be empty
     * @param image     the image
     * @throws IOException if the file cannot be written
     * @throws IllegalArgumentException if the caption or image is null or the iteration negative
     */
    public synchronized void image(long iteration, String caption, BufferedImage image) throws IOException {
        checkIteration(iteration);
        if (caption == null) {
            throw new IllegalArgumentException("caption must not be null; use \"\" for none");
        }
        if (image == null) {
            throw new IllegalArgumentException(
                    "image must not be null (caption \"" + caption + "\", iteration " + iteration + ")");
        }
        String file = sampleFileName(iteration, caption);
        Files.createDirectories(directory.resolve(SAMPLES_DIR));
        replace(directory.resolve(file), out -> {
            if (!ImageIO.write(image, "png", out)) {
                throw new IOException("ImageIO has no PNG writer for an image of type " + image.getType()
                        + "; draw it into a BufferedImage.TYPE_INT_RGB first");
            }
        });
        samples.add(new Sample(iteration, caption, file, image.getWidth(), image.getHeight()));
        sampleFiles.add(file);
    }

    /**
     * (Re)writes the charts, {@code losses.csv}, {@code samples.csv} and {@code index.html} from everything
     * recorded so far; call it as often as the page should be fresh.
     *
     * @return the page, {@code index.html}
     * @throws IOException if a file cannot be written
     */
    public synchronized Path write() throws IOException {
        Map<String, List<Series>> groups = groups();
        if (!groups.isEmpty()) {
            Files.createDirectories(directory.resolve(CHARTS_DIR));
        }
        for (Map.Entry<String, List<Series>> g : groups.entrySet()) {
            JFreeChart chart = chart(g.getKey(), g.getValue());
            BufferedImage png = chart.createBufferedImage(chartWidth, chartHeight, BufferedImage.TYPE_INT_RGB, null);
            replace(directory.resolve(chartFile(g.getKey())), out -> ImageIO.write(png, "png", out));
        }
        replace(directory.resolve(LOSSES), out -> writeText(out, this::writeLosses));
        replace(directory.resolve(SAMPLES_LIST), out -> writeText(out, this::writeSampleList));
        Path index = directory.resolve(INDEX);
        String html = html(groups);
        replace(index, out -> out.write(html.getBytes(StandardCharsets.UTF_8)));
        return index;
    }

    // ---- recording

    private void record(long iteration, String name, double value) {
        series.computeIfAbsent(name, Series::new).add(iteration, value);
    }

    private static void checkArguments(Path directory, String title) {
        if (directory == null) {
            throw new IllegalArgumentException("directory must not be null; give the folder the report goes to");
        }
        if (title == null || title.isBlank()) {
            throw new IllegalArgumentException(
                    "title must not be null or blank; give the run a name such as \"StarGAN v2 on AFHQ\"");
        }
    }

    private static void checkIteration(long iteration) {
        if (iteration < 0) {
            throw new IllegalArgumentException("iteration must be >= 0, got " + iteration);
        }
    }

    private static void checkName(String name) {
        if (name == null || name.isBlank()) {
            throw new IllegalArgumentException(
                    "a series name must not be null or blank; give one such as \"D/real\" (chart D, series real)");
        }
        int slash = name.indexOf('/');
        if (slash >= 0
                && (name.substring(0, slash).isBlank()
                        || name.substring(slash + 1).isBlank())) {
            throw new IllegalArgumentException("series name \"" + name + "\" has an empty part around its first '/';"
                    + " write \"chart/series\" such as \"D/real\", or a name without '/'");
        }
    }

    private static String group(String name) {
        int slash = name.indexOf('/');
        return slash < 0 ? name : name.substring(0, slash);
    }

    private Map<String, List<Series>> groups() {
        Map<String, List<Series>> groups = new LinkedHashMap<>();
        for (Series s : series.values()) {
            groups.computeIfAbsent(group(s.name), k -> new ArrayList<>()).add(s);
        }
        return groups;
    }

    // ---- file names

    private String chartFile(String group) {
        return chartFiles.computeIfAbsent(
                group, g -> unique(CHARTS_DIR + "/" + slug(g, "chart"), new HashSet<>(chartFiles.values())));
    }

    private String sampleFileName(long iteration, String caption) {
        String base = String.format(Locale.ROOT, "%s/%06d-%s", SAMPLES_DIR, iteration, slug(caption, "sample"));
        return unique(base, sampleFiles);
    }

    /** {@code base + ".png"}, or with {@code -2}, {@code -3}... before the extension when taken. */
    private static String unique(String base, Set<String> taken) {
        String name = base + ".png";
        for (int i = 2; taken.contains(name); i++) {
            name = base + "-" + i + ".png";
        }
        return name;
    }

    /** Lower-case ASCII letters and digits, other runs as one {@code -}; cut after a whole word within 32 characters. */
    static String slug(String text, String fallback) {
        StringBuilder b = new StringBuilder();
        for (char c : text.toLowerCase(Locale.ROOT).toCharArray()) {
            if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
                b.append(c);
            } else if (b.length() > 0 && b.charAt(b.length() - 1) != '-') {
                b.append('-');
            }
        }
        if (b.length() > 32) {
            int cut = b.lastIndexOf("-", 32);
            b.setLength(cut > 0 ? cut : 32);
        }
        while (b.length() > 0 && b.charAt(b.length() - 1) == '-') {
            b.setLength(b.length() - 1);
        }
        return b.length() == 0 ? fallback : b.toString();
    }

    private static boolean isSampleFile(String file) {
        return file.startsWith(SAMPLES_DIR + "/")
                && file.endsWith(".png")
                && !file.contains("..")
                && file.indexOf('/') == file.lastIndexOf('/');
    }

    // ---- charts

    private static JFreeChart chart(String group, List<Series> members) {
        XYSeriesCollection data = new XYSeriesCollection();
        for (Series s : members) {
            XYSeries xy = new XYSeries(s.name, true, true);
            for (int i = 0; i < s.size; i++) {
                if (Double.isFinite(s.values[i])) {
                    xy.add(s.iterations[i], s.values[i], false);
                }
            }
            data.addSeries(xy);
        }
        JFreeChart chart = ChartFactory.createXYLineChart(
                group, "iteration", null, data, PlotOrientation.VERTICAL, true, false, false);
        chart.setBackgroundPaint(Color.WHITE);
        chart.setAntiAlias(true);
        XYPlot plot = chart.getXYPlot();
        plot.setBackgroundPaint(Color.WHITE);
        plot.setDomainGridlinePaint(new Color(0xdddddd));
        plot.setRangeGridlinePaint(new Color(0xdddddd));
        plot.setOutlinePaint(new Color(0xbbbbbb));
        NumberAxis x = (NumberAxis) plot.getDomainAxis();
        x.setStandardTickUnits(NumberAxis.createIntegerTickUnits());
        x.setAutoRangeIncludesZero(false);
        ((NumberAxis) plot.getRangeAxis()).setAutoRangeIncludesZero(false);
        XYLineAndShapeRenderer renderer = new XYLineAndShapeRenderer(true, false);
        for (int i = 0; i < members.size(); i++) {
            renderer.setSeriesPaint(i, PALETTE[i % PALETTE.length]);
            renderer.setSeriesStroke(i, new BasicStroke(2f));
            // A series with a single point has no line to draw.
            renderer.setSeriesShapesVisible(i, data.getSeries(i).getItemCount() == 1);
        }
        plot.setRenderer(renderer);
        return chart;
    }

    // ---- losses.csv and samples.csv

    private void writeLosses(Writer w) throws IOException {
        w.write("iteration,name,value\n");
        List<long[]> order = new ArrayList<>(); // {series index, point index, sequence}
        List<Series> all = new ArrayList<>(series.values());
        for (int s = 0; s < all.size(); s++) {
            Series x = all.get(s);
            for (int i = 0; i < x.size; i++) {
                order.add(new long[] {x.sequence[i], s, i});
            }
        }
        order.sort((a, b) -> Long.compare(a[0], b[0]));
        for (long[] o : order) {
            Series x = all.get((int) o[1]);
            int i = (int) o[2];
            w.write(Long.toString(x.iterations[i]));
            w.write(',');
            w.write(Csv.field(x.name));
            w.write(',');
            w.write(Double.toString(x.values[i]));
            w.write('\n');
        }
    }

    private void writeSampleList(Writer w) throws IOException {
        w.write("iteration,caption,file,width,height\n");
        for (Sample s : samples) {
            w.write(s.iteration + "," + Csv.field(s.caption) + "," + Csv.field(s.file) + "," + s.width + "," + s.height
                    + "\n");
        }
    }

    // ---- index.html

    private String html(Map<String, List<Series>> groups) {
        StringBuilder h = new StringBuilder(16_384);
        h.append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        h.append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
        h.append("<title>").append(Html.escape(title)).append("</title>\n");
        h.append("<style>\n")
                .append("body{font-family:system-ui,-apple-system,\"Segoe UI\",Roboto,\"DejaVu Sans\",sans-serif;")
                .append("margin:1.5em auto;max-width:1100px;padding:0 1em;color:#222;background:#fff}\n")
                .append("h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.6em;")
                .append("border-bottom:1px solid #ddd;padding-bottom:.2em}\n")
                .append(".meta{color:#666;margin-top:0}.warn{color:#8a4b00;background:#fff4e0;padding:.4em .6em;")
                .append("border-left:3px solid #e69500}\n")
                .append("figure{margin:1em 0}figcaption{color:#444;font-size:.9em;margin-top:.3em}\n")
                .append("img{max-width:100%;height:auto}img.sample{image-rendering:pixelated;")
                .append("border:1px solid #ddd}\n")
                .append("table{border-collapse:collapse;font-variant-numeric:tabular-nums}")
                .append("th,td{padding:.25em .8em;border-bottom:1px solid #eee;text-align:right}")
                .append("th:first-child,td:first-child{text-align:left}th{background:#f6f6f6}\n")
                .append("</style>\n</head>\n<body>\n");
        h.append("<h1>").append(Html.escape(title)).append("</h1>\n");
        h.append("<p class=\"meta\">").append(summary()).append("</p>\n");

        h.append("<h2>Losses</h2>\n");
        if (groups.isEmpty()) {
            h.append("<p>No values recorded yet.</p>\n");
        } else {
            h.append("<p>Every value: <a href=\"")
                    .append(LOSSES)
                    .append("\">")
                    .append(LOSSES)
                    .append("</a> (iteration, name, value).</p>\n");
            for (Map.Entry<String, List<Series>> g : groups.entrySet()) {
                StringBuilder names = new StringBuilder();
                for (Series s : g.getValue()) {
                    names.append(names.length() == 0 ? "" : ", ").append(s.name);
                }
                h.append("<figure><img src=\"")
                        .append(Html.escape(chartFile(g.getKey())))
                        .append("\" width=\"")
                        .append(chartWidth)
                        .append("\" height=\"")
                        .append(chartHeight)
                        .append("\" alt=\"")
                        .append(Html.escape("chart " + g.getKey() + ": " + names))
                        .append("\"></figure>\n");
            }
            List<Series> skipped =
                    series.values().stream().filter(s -> s.nonFinite > 0).toList();
            if (!skipped.isEmpty()) {
                h.append("<p class=\"warn\">Not plotted, being NaN or infinite (kept in ")
                        .append(LOSSES)
                        .append(" and the table): ");
                for (int i = 0; i < skipped.size(); i++) {
                    Series s = skipped.get(i);
                    h.append(i == 0 ? "" : "; ")
                            .append(Html.escape(s.name))
                            .append(": ")
                            .append(s.nonFinite)
                            .append(s.nonFinite == 1 ? " value" : " values")
                            .append(", first at iteration ")
                            .append(s.firstNonFinite);
                }
                h.append(".</p>\n");
            }

            h.append("<h2>Latest values</h2>\n<table>\n<thead><tr><th>series</th><th>iteration</th><th>value</th>")
                    .append("<th>mean of the last ")
                    .append(RECENT)
                    .append("</th><th>points</th><th>not plotted</th></tr></thead>\n<tbody>\n");
            for (Series s : series.values()) {
                int last = s.size - 1;
                h.append("<tr><td>")
                        .append(Html.escape(s.name))
                        .append("</td><td>")
                        .append(s.iterations[last])
                        .append("</td><td>")
                        .append(number(s.values[last]))
                        .append("</td><td>")
                        .append(number(s.recentMean()))
                        .append("</td><td>")
                        .append(s.size)
                        .append("</td><td>")
                        .append(s.nonFinite)
                        .append("</td></tr>\n");
            }
            h.append("</tbody>\n</table>\n");
        }

        h.append("<h2>Samples</h2>\n");
        if (samples.isEmpty()) {
            h.append("<p>No samples yet.</p>\n");
        } else {
            h.append("<p>Newest first.</p>\n");
            List<Sample> newestFirst = new ArrayList<>(samples);
            // Stable: images of one iteration stay in the order they were recorded.
            newestFirst.sort((a, b) -> Long.compare(b.iteration, a.iteration));
            for (Sample s : newestFirst) {
                int scale = Math.max(1, Math.min(4, SAMPLE_DISPLAY_WIDTH / Math.max(1, s.width)));
                String caption = "iteration " + s.iteration + (s.caption.isEmpty() ? "" : ": " + s.caption);
                h.append("<figure><img class=\"sample\" loading=\"lazy\" src=\"")
                        .append(Html.escape(s.file))
                        .append("\" width=\"")
                        .append(s.width * scale)
                        .append("\" height=\"")
                        .append(s.height * scale)
                        .append("\" alt=\"")
                        .append(Html.escape(caption))
                        .append("\"><figcaption>")
                        .append(Html.escape(caption))
                        .append("</figcaption></figure>\n");
            }
        }
        h.append("</body>\n</html>\n");
        return h.toString();
    }

    private String summary() {
        long first = Long.MAX_VALUE;
        long last = Long.MIN_VALUE;
        for (Series s : series.values()) {
            for (int i = 0; i < s.size; i++) {
                first = Math.min(first, s.iterations[i]);
                last = Math.max(last, s.iterations[i]);
            }
        }
        for (Sample s : samples) {
            first = Math.min(first, s.iteration);
            last = Math.max(last, s.iteration);
        }
        String range = first > last ? "no iterations yet" : "iterations " + first + " to " + last;
        return Html.escape(range + " · " + series.size() + " series · "
                + samples.size() + (samples.size() == 1 ? " sample image" : " sample images") + " · written "
                + Instant.now().truncatedTo(ChronoUnit.SECONDS));
    }

    private static String number(double v) {
        if (!Double.isFinite(v)) {
            return Double.toString(v);
        }
        double a = Math.abs(v);
        return (a != 0 && (a < 1e-3 || a >= 1e6))
                ? String.format(Locale.ROOT, "%.4e", v)
                : String.format(Locale.ROOT, "%.5f", v);
    }

    // ---- files

    private interface Body {
        void write(OutputStream out) throws IOException;
    }

    private interface TextBody {
        void write(Writer w) throws IOException;
    }

    private static void writeText(OutputStream out, TextBody body) throws IOException {
        Writer w = new OutputStreamWriter(out, StandardCharsets.UTF_8);
        body.write(w);
        w.flush();
    }

    /**
     * Writes {@code target} through a file beside it that is then moved over it, so that a reader sees the old or
     * the new file, never part of one. (Not {@code Files.createTempFile}: its owner-only permissions would follow
     * the file.)
     */
    private static void replace(Path target, Body body) throws IOException {
        Path tmp = null;
        for (int attempt = 0; tmp == null; attempt++) {
            Path candidate = target.resolveSibling("." + target.getFileName() + "."
                    + Long.toHexString(ThreadLocalRandom.current().nextLong()) + ".tmp");
            try {
                Files.newOutputStream(candidate, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)
                        .close();
                tmp = candidate;
            } catch (FileAlreadyExistsException e) {
                if (attempt > 10) {
                    throw e;
                }
            }
        }
        try {
            try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(tmp))) {
                body.write(out);
            }
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
            }
        } finally {
            try {
                Files.deleteIfExists(tmp);
            } catch (NoSuchFileException ignored) {
                // moved
            }
        }
    }

    private static long parseLong(String text, Path file) {
        try {
            return Long.parseLong(text.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(
                    file + " has \"" + text + "\" where a whole number belongs; is it a TrainingReport file?", e);
        }
    }

    private static double parseDouble(String text, Path file) {
        try {
            return Double.parseDouble(text.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(
                    file + " has \"" + text + "\" where a number belongs; is it a TrainingReport file?", e);
        }
    }

    // ---- state

    /** One named series: its points in the order recorded, with a report-wide sequence for losses.csv. */
    private final class Series {
        final String name;
        long[] iterations = new long[64];
        double[] values = new double[64];
        long[] sequence = new long[64];
        int size;
        int nonFinite;
        long firstNonFinite = -1;

        Series(String name) {
            this.name = name;
        }

        void add(long iteration, double value) {
            if (size == iterations.length) {
                iterations = Arrays.copyOf(iterations, size * 2);
                values = Arrays.copyOf(values, size * 2);
                sequence = Arrays.copyOf(sequence, size * 2);
            }
            iterations[size] = iteration;
            values[size] = value;
            sequence[size] = nextSequence++;
            size++;
            if (!Double.isFinite(value)) {
                if (nonFinite == 0) {
                    firstNonFinite = iteration;
                }
                nonFinite++;
            }
        }

        /** The mean of the last {@link #RECENT} points, finite ones only; NaN if none. */
        double recentMean() {
            double sum = 0;
            int n = 0;
            for (int i = Math.max(0, size - RECENT); i < size; i++) {
                if (Double.isFinite(values[i])) {
                    sum += values[i];
                    n++;
                }
            }
            return n == 0 ? Double.NaN : sum / n;
        }
    }

    private record Sample(long iteration, String caption, String file, int width, int height) {}
}
