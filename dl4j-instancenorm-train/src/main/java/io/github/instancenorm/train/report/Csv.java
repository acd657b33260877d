package io.github.instancenorm.train.report;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** The RFC 4180 subset that the report writes and reads back: comma-separated, double quotes around a field with a comma, quote or line break. */
final class Csv {

    private Csv() {}

    /**
     * @param value a field
     * @return it as written in a CSV record
     */
    static String field(String value) {
        if (value.indexOf(',') < 0 && value.indexOf('"') < 0 && value.indexOf('\n') < 0 && value.indexOf('\r') < 0) {
            return value;
        }
        return '"' + value.replace("\"", "\"\"") + '"';
    }

    /**
     * Reads a file that {@link #field} wrote.
     *
     * @param file   the file
     * @param header the expected header fields
     * @return the records after the header, each with {@code header.size()} fields
     * @throws IOException if the file cannot be read
     * @throws IllegalArgumentException if the header differs, a record has another number of fields, or a quote is
     *     not closed
     */
    static List<List<String>> read(Path file, List<String> header) throws IOException {
        String text = Files.readString(file, StandardCharsets.UTF_8);
        List<List<String>> records = new ArrayList<>();
        List<String> record = new ArrayList<>();
        StringBuilder f = new StringBuilder();
        boolean quoted = false;
        boolean any = false;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (quoted) {
                if (c == '"' && i + 1 < text.length() && text.charAt(i + 1) == '"') {
                    f.append('"');
                    i++;
                } else if (c == '"') {
                    quoted = false;
                } else {
                    f.append(c);
                }
            } else if (c == '"') {
                quoted = true;
                any = true;
            } else if (c == ',') {
                record.add(f.toString());
                f.setLength(0);
                any = true;
            } else if (c == '\n' || c == '\r') {
                if (c == '\r' && i + 1 < text.length() && text.charAt(i + 1) == '\n') {
                    i++;
                }
                if (any || f.length() > 0) {
                    record.add(f.toString());
                    records.add(record);
                }
                record = new ArrayList<>();
                f.setLength(0);
                any = false;
            } else {
                f.append(c);
                any = true;
            }
        }
        if (quoted) {
            throw new IllegalArgumentException(file + " ends inside a quoted field; is it a TrainingReport file?");
        }
        if (any || f.length() > 0) {
            record.add(f.toString());
            records.add(record);
        }
        if (records.isEmpty() || !records.get(0).equals(header)) {
            throw new IllegalArgumentException(file + " does not start with the header " + String.join(",", header)
                    + "; is it a TrainingReport file? Move it away or use TrainingReport.create to start afresh");
        }
        for (int r = 1; r < records.size(); r++) {
            if (records.get(r).size() != header.size()) {
                throw new IllegalArgumentException(
                        file + ": record " + r + " has " + records.get(r).size() + " fields, expected " + header.size()
                                + " (" + String.join(",", header) + ")");
            }
        }
        return records.subList(1, records.size());
    }
}
