package io.github.instancenorm.train.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The report's files: a page that links only files that exist and nothing on the network, charts that decode and
 * show their series, escaping, repeated writes, non-finite values, resuming, and clear errors.
 */
class TrainingReportTest {

    private static final Pattern LINK = Pattern.compile("(?:src|href)=\"([^\"]*)\"");
    private static final Color FIRST_SERIES = new Color(0x1f77b4); // Tableau 10's blue, the first series' colour
    private static final Color SECOND_SERIES = new Color(0xff7f0e); // and orange, the second's

    @TempDir
    Path dir;

    private static BufferedImage filled(int width, int height, Color colour) {
        BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        g.setColor(colour);
        g.fillRect(0, 0, width, height);
        g.dispose();
        return image;
    }

    /** Two charts' worth of GAN-like losses over 60 iterations and two sample grids. */
    private TrainingReport synthetic() throws IOException {
        TrainingReport report = TrainingReport.create(dir.resolve("report"), "tiny run");
        for (int it = 1; it <= 60; it++) {
            Map<String, Double> values = new LinkedHashMap<>();
            values.put("D/real", 0.5 + 0.3 * Math.exp(-it / 20.0) + 0.05 * Math.sin(it));
            values.put("D/fake", 0.4 - 0.2 * Math.exp(-it / 15.0));
            values.put("G/adv", 1.0 + 0.1 * Math.cos(it / 3.0));
            report.scalars(it, values);
            if (it % 30 == 0) {
                report.image(it, "inputs, then translations", filled(96, 48, new Color(200, 40, 40)));
            }
        }
        return report;
    }

    private static List<String> links(String html) {
        List<String> links = new ArrayList<>();
        Matcher m = LINK.matcher(html);
        while (m.find()) {
            links.add(m.group(1).replace("&amp;", "&"));
        }
        return links;
    }

    /** Pixels within a small distance of {@code colour}: a line's core, not its anti-aliased edge. */
    private static int pixelsOf(BufferedImage image, Color colour) {
        int n = 0;
        for (int y = 0; y < image.getHeight(); y++) {
            for (int x = 0; x < image.getWidth(); x++) {
                Color c = new Color(image.getRGB(x, y));
                int d = Math.abs(c.getRed() - colour.getRed())
                        + Math.abs(c.getGreen() - colour.getGreen())
                        + Math.abs(c.getBlue() - colour.getBlue());
                if (d <= 24) {
                    n++;
                }
            }
        }
        return n;
    }

    private static BufferedImage chart(Path report, String file) throws IOException {
        BufferedImage image = ImageIO.read(report.resolve(file).toFile());
        assertNotNull(image, file + " is not an image ImageIO reads");
        return image;
    }

    @Test
    void thePageLinksOnlyFilesThatExistAndNothingOnTheNetwork() throws IOException {
        TrainingReport report = synthetic();
        Path index = report.write();
        assertEquals(dir.resolve("report").resolve("index.html"), index);
        String html = Files.readString(index);
        List<String> links = links(html);
        // Two charts (D, G), losses.csv, two samples.
        assertEquals(5, links.size(), links.toString());
        assertEquals(2, links.stream().filter(l -> l.startsWith("charts/")).count(), links.toString());
        assertEquals(2, links.stream().filter(l -> l.startsWith("samples/")).count(), links.toString());
        for (String link : links) {
            assertFalse(link.contains(":") || link.startsWith("/") || link.contains(".."), "not relative: " + link);
            assertTrue(Files.isRegularFile(index.resolveSibling(link)), "missing: " + link);
        }
        String lower = html.toLowerCase(Locale.ROOT);
        assertFalse(lower.contains("http://") || lower.contains("https://") || lower.contains("//cdn"), html);
        assertFalse(lower.contains("<script") || lower.contains("<link") || lower.contains("@import"), html);
        assertTrue(html.contains("<title>tiny run</title>"), html);
        // Newest sample first, captioned with its iteration.
        assertTrue(html.indexOf("iteration 60: inputs") < html.indexOf("iteration 30: inputs"), html);
        // The table's latest values.
        assertTrue(html.contains("<td>G/adv</td><td>60</td>"), html);
    }

    @Test
    void chartsDecodeAtTheirSizeAndShowEachSeriesInItsColour() throws IOException {
        TrainingReport report = synthetic();
        Path index = report.write();
        List<String> charts = links(Files.readString(index)).stream()
                .filter(l -> l.startsWith("charts/"))
                .toList();
        BufferedImage d = chart(index.getParent(), charts.get(0));
        assertEquals(800, d.getWidth());
        assertEquals(320, d.getHeight());
        // A line across the plot (about 700 pixels wide, 2 pixels thick) is far more pixels than the legend's key.
        assertTrue(pixelsOf(d, FIRST_SERIES) > 500, "D/real's line: " + pixelsOf(d, FIRST_SERIES));
        assertTrue(pixelsOf(d, SECOND_SERIES) > 500, "D/fake's line: " + pixelsOf(d, SECOND_SERIES));
        BufferedImage g = chart(index.getParent(), charts.get(1));
        assertTrue(pixelsOf(g, FIRST_SERIES) > 500, "G/adv's line: " + pixelsOf(g, FIRST_SERIES));
        assertTrue(pixelsOf(g, SECOND_SERIES) < 20, "G has one series: " + pixelsOf(g, SECOND_SERIES));

        report.chartSize(1000, 400).write();
        BufferedImage larger = chart(index.getParent(), charts.get(0));
        assertEquals(1000, larger.getWidth());
        assertEquals(400, larger.getHeight());
    }

    @Test
    void nonFiniteValuesAreKeptButNotPlotted() throws IOException {
        TrainingReport report = TrainingReport.create(dir, "diverging");
        for (int it = 1; it <= 40; it++) {
            double v = it == 7 ? Double.NaN : it == 9 ? Double.POSITIVE_INFINITY : it * 0.01;
            report.scalar(it, "loss", v);
        }
        Path index = report.write();
        String html = Files.readString(index);
        assertTrue(html.contains("loss: 2 values, first at iteration 7"), html);
        BufferedImage chart = chart(dir, "charts/loss.png");
        // An infinite value in the range would squash the line to the axis; the finite ones span the plot instead.
        int[] rows = rowsWith(chart, FIRST_SERIES);
        assertTrue(rows[1] - rows[0] > 150, "the line spans rows " + rows[0] + ".." + rows[1]);
        List<String> csv = Files.readAllLines(dir.resolve("losses.csv"));
        assertEquals("iteration,name,value", csv.get(0));
        assertEquals(41, csv.size());
        assertEquals("7,loss,NaN", csv.get(7));
        assertEquals("9,loss,Infinity", csv.get(9));
        assertEquals("40,loss,0.4", csv.get(40));
    }

    /** The first and last row holding pixels of {@code colour} above the legend (the chart's bottom 40 rows). */
    private static int[] rowsWith(BufferedImage image, Color colour) {
        int first = -1;
        int last = -1;
        for (int y = 0; y < image.getHeight() - 40; y++) {
            BufferedImage row = image.getSubimage(0, y, image.getWidth(), 1);
            if (pixelsOf(row, colour) > 0) {
                first = first < 0 ? y : first;
                last = y;
            }
        }
        return new int[] {first, last};
    }

    @Test
    void textIsEscaped() throws IOException {
        TrainingReport report = TrainingReport.create(dir, "run <1> & \"x\"");
        report.scalar(1, "D/<&>", 1);
        report.image(1, "a <b> & 'c'", filled(8, 8, Color.BLUE));
        String html = Files.readString(report.write());
        assertTrue(html.contains("<title>run &lt;1&gt; &amp; &quot;x&quot;</title>"), html);
        assertTrue(html.contains("<h1>run &lt;1&gt; &amp; &quot;x&quot;</h1>"), html);
        assertTrue(html.contains("<figcaption>iteration 1: a &lt;b&gt; &amp; &#39;c&#39;</figcaption>"), html);
        assertTrue(html.contains("<td>D/&lt;&amp;&gt;</td>"), html);
        assertFalse(html.contains("<b>") || html.contains("<1>") || html.contains("<&>"), html);
        // The file names are plain whatever the caption.
        for (String link : links(html)) {
            assertTrue(link.matches("[a-z0-9./-]+"), link);
        }
    }

    @Test
    void writeCanBeCalledAgainAndShowsWhatCameSince() throws IOException {
        TrainingReport report = synthetic();
        Path index = report.write();
        String before = Files.readString(index);
        assertTrue(before.contains("iterations 1 to 60"), before);
        for (int it = 61; it <= 80; it++) {
            report.scalar(it, "D/real", 0.5);
        }
        report.image(80, "inputs, then translations", filled(96, 48, Color.GREEN));
        report.image(80, "inputs, then translations", filled(96, 48, Color.GREEN));
        assertEquals(index, report.write());
        String after = Files.readString(index);
        assertTrue(after.contains("iterations 1 to 80"), after);
        assertEquals(
                4, links(after).stream().filter(l -> l.startsWith("samples/")).count());
        assertTrue(after.contains("samples/000080-inputs-then-translations-2.png"), after);
        assertEquals(
                1 + 60 * 3 + 20,
                Files.readAllLines(index.resolveSibling("losses.csv")).size());
        try (Stream<Path> files = Files.walk(index.getParent())) {
            List<Path> leftovers = files.filter(p -> p.getFileName().toString().endsWith(".tmp"))
                    .toList();
            assertTrue(leftovers.isEmpty(), "temporary files left: " + leftovers);
        }
    }

    @Test
    void sampleFileNamesAreShortPlainWords() {
        assertEquals(
                "first-row-the-inputs-then-one",
                TrainingReport.slug("First row: the inputs, then one row per target [red, green]", "sample"));
        assertEquals("a-b-c", TrainingReport.slug("<a> & B/c!", "sample"));
        assertEquals("sample", TrainingReport.slug(" <&> ", "sample"));
        assertEquals("abcdefghijabcdefghijabcdefghijab", TrainingReport.slug("abcdefghij".repeat(4), "sample"));
    }

    @Test
    void anEmptyReportWritesAPage() throws IOException {
        String html = Files.readString(TrainingReport.create(dir, "nothing yet").write());
        assertTrue(html.contains("No values recorded yet."), html);
        assertTrue(html.contains("No samples yet."), html);
        assertTrue(links(html).isEmpty(), html);
    }

    @Test
    void badArgumentsGiveClearErrorsAndChangeNothing() throws IOException {
        TrainingReport report = TrainingReport.create(dir, "errors");
        report.scalar(1, "D/real", 1);
        for (String name : new String[] {null, "", "  ", "D/", "/real"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> report.scalar(2, name, 1));
            assertTrue(e.getMessage().contains("series name") && e.getMessage().contains("\"D/real\""), e.getMessage());
        }
        Map<String, Double> withNull = new HashMap<>();
        withNull.put("D/fake", 0.5);
        withNull.put("G/adv", null);
        IllegalArgumentException nullValue =
                assertThrows(IllegalArgumentException.class, () -> report.scalars(2, withNull));
        assertTrue(nullValue.getMessage().contains("\"G/adv\""), nullValue.getMessage());
        IllegalArgumentException negative =
                assertThrows(IllegalArgumentException.class, () -> report.scalar(-1, "D/real", 1));
        assertTrue(negative.getMessage().contains("iteration must be >= 0, got -1"), negative.getMessage());
        IllegalArgumentException noImage =
                assertThrows(IllegalArgumentException.class, () -> report.image(2, "grid", null));
        assertTrue(noImage.getMessage().contains("image must not be null"), noImage.getMessage());
        assertThrows(IllegalArgumentException.class, () -> report.image(2, null, filled(4, 4, Color.RED)));
        assertThrows(IllegalArgumentException.class, () -> TrainingReport.create(dir, " "));
        assertThrows(IllegalArgumentException.class, () -> TrainingReport.create(null, "x"));
        assertThrows(IllegalArgumentException.class, () -> report.chartSize(10, 10));
        // NaN is a value, not an error.
        report.scalar(3, "D/real", Double.NaN);

        report.write();
        assertEquals(
                List.of("iteration,name,value", "1,D/real,1.0", "3,D/real,NaN"),
                Files.readAllLines(dir.resolve("losses.csv")));
        assertFalse(Files.exists(dir.resolve("samples")), "no sample was saved");
    }

    @Test
    void namesWithCommasAndQuotesAreQuotedInTheCsv() throws IOException {
        TrainingReport report = TrainingReport.create(dir, "csv");
        report.scalar(5, "eval/acc, \"top1\"", 0.25);
        report.write();
        assertEquals(
                "5,\"eval/acc, \"\"top1\"\"\",0.25",
                Files.readAllLines(dir.resolve("losses.csv")).get(1));
    }

    @Test
    void resumeKeepsWhatCameUpToTheCheckpoint() throws IOException {
        TrainingReport first = synthetic(); // iterations 1..60, samples at 30 and 60
        first.scalar(60, "eval/acc, \"top1\"", 0.5);
        first.write();
        Path report = dir.resolve("report");

        TrainingReport resumed = TrainingReport.resume(report, "tiny run, resumed", 45);
        resumed.scalar(46, "D/real", 0.125);
        String html = Files.readString(resumed.write());
        assertTrue(html.contains("iterations 1 to 46"), html);
        assertTrue(html.contains("iteration 30: inputs"), html);
        assertFalse(html.contains("iteration 60: inputs"), html);
        assertFalse(html.contains("top1"), "recorded after the checkpoint: " + html);
        List<String> csv = Files.readAllLines(report.resolve("losses.csv"));
        assertEquals(1 + 45 * 3 + 1, csv.size());
        assertEquals("1,D/real," + (0.5 + 0.3 * Math.exp(-1 / 20.0) + 0.05 * Math.sin(1)), csv.get(1));
        assertEquals("46,D/real,0.125", csv.get(csv.size() - 1));

        Files.writeString(report.resolve("losses.csv"), "step,loss\n1,2\n");
        IllegalArgumentException foreign =
                assertThrows(IllegalArgumentException.class, () -> TrainingReport.resume(report, "x", 10));
        assertTrue(foreign.getMessage().contains("iteration,name,value"), foreign.getMessage());
        // Without an earlier report, resume starts an empty one.
        String fresh = Files.readString(
                TrainingReport.resume(dir.resolve("elsewhere"), "x", 10).write());
        assertTrue(fresh.contains("No values recorded yet."), fresh);
    }
}
