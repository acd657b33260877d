package io.github.instancenorm.train.report;

/** HTML text escaping, for text between tags and inside double- or single-quoted attribute values. */
final class Html {

    private Html() {}

    /**
     * @param text any text
     * @return it with {@code & < > " '} as character references
     */
    static String escape(String text) {
        StringBuilder b = new StringBuilder(text.length() + 16);
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            switch (c) {
                case '&' -> b.append("&amp;");
                case '<' -> b.append("&lt;");
                case '>' -> b.append("&gt;");
                case '"' -> b.append("&quot;");
                case '\'' -> b.append("&#39;");
                default -> b.append(c);
            }
        }
        return b.toString();
    }
}
