// A small strict JSON (RFC 8259) parser and writer, for safetensors headers and config files:
// the worker ships without Jackson, and these documents are a few kilobytes.
package sparkgpt.worker.io;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Parses JSON into plain Java values and writes them back.
 *
 * <p>Objects become {@code LinkedHashMap<String, Object>} (document order kept), arrays
 * {@code List<Object>}, numbers {@code Long} when written as an integer that fits in a long and
 * {@code Double} otherwise, plus {@code String}, {@code Boolean} and {@code null}. Strict: no
 * comments, trailing commas, leading zeros, NaN/Infinity, duplicate keys or trailing content.
 */
public final class Json {
    /** Deeper documents are rejected instead of overflowing the parser's stack. */
    static final int MAX_DEPTH = 512;

    private Json() {
    }

    /** Parses {@code text}; errors name "JSON" as the source. */
    public static Object parse(String text) {
        return parse(text, "JSON");
    }

    /** Parses {@code text}; a {@link FormatException} names {@code source} and the position. */
    public static Object parse(String text, String source) {
        Parser p = new Parser(text, source);
        p.skipWhitespace();
        Object value = p.value(0);
        p.skipWhitespace();
        if (p.pos < text.length()) {
            throw p.error("expected end of input");
        }
        return value;
    }

    /** Writes a Map (String keys), List, String, Number, Boolean or null as compact JSON. */
    public static String write(Object value) {
        StringBuilder sb = new StringBuilder();
        write(value, sb);
        return sb.toString();
    }

    /** x rounded to decimals, as a JSON number; null for NaN and the infinities, which JSON cannot write. */
    public static Double number(double x, int decimals) {
        return Double.isFinite(x) ? Double.valueOf(String.format(java.util.Locale.ROOT, "%." + decimals + "f", x)) : null;
    }

    /**
     * An object with one top-level key per line, each value compact: readable with cat, parsed by any JSON
     * reader (meta.json, trainer_state.json, config.json).
     */
    public static String writeLines(Map<String, ?> object) {
        StringBuilder sb = new StringBuilder("{\n");
        int i = 0;
        for (Map.Entry<String, ?> e : object.entrySet()) {
            sb.append("  ");
            writeString(e.getKey(), sb);
            sb.append(": ");
            write(e.getValue(), sb);
            sb.append(++i < object.size() ? ",\n" : "\n");
        }
        return sb.append("}\n").toString();
    }

    /** Appends the compact JSON for {@code value} to {@code sb}. */
    public static void write(Object value, StringBuilder sb) {
        if (value == null) {
            sb.append("null");
        } else if (value instanceof String s) {
            writeString(s, sb);
        } else if (value instanceof Boolean b) {
            sb.append(b.booleanValue());
        } else if (value instanceof Double || value instanceof Float) {
            double d = ((Number) value).doubleValue();
            if (!Double.isFinite(d)) {
                throw new IllegalArgumentException("JSON has no representation for " + value);
            }
            // Double.toString and Float.toString print enough digits to read back the same
            // double/float (JLS), and their forms ("1.0E-8") are valid JSON numbers.
            sb.append(value instanceof Float f ? Float.toString(f) : Double.toString(d));
        } else if (value instanceof Number n) {
            // Long, Integer, Short, Byte, BigInteger, BigDecimal: toString is valid JSON
            sb.append(n.toString());
        } else if (value instanceof Map<?, ?> m) {
            sb.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : m.entrySet()) {
                if (!(e.getKey() instanceof String key)) {
                    throw new IllegalArgumentException("JSON object keys must be strings, got " + e.getKey());
                }
                if (!first) {
                    sb.append(',');
                }
                first = false;
                writeString(key, sb);
                sb.append(':');
                write(e.getValue(), sb);
            }
            sb.append('}');
        } else if (value instanceof List<?> list) {
            sb.append('[');
            for (int i = 0; i < list.size(); i++) {
                if (i > 0) {
                    sb.append(',');
                }
                write(list.get(i), sb);
            }
            sb.append(']');
        } else {
            throw new IllegalArgumentException("cannot write " + value.getClass().getName() + " as JSON");
        }
    }

    private static void writeString(String s, StringBuilder sb) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                case '\b' -> sb.append("\\b");
                case '\f' -> sb.append("\\f");
                default -> {
                    if (c < 0x20) {
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        sb.append('"');
    }

    /** Recursive descent over the text; {@code pos} is the next unread char. */
    private static final class Parser {
        private final String text;
        private final String source;
        private int pos;

        Parser(String text, String source) {
            this.text = text;
            this.source = source;
        }

        Object value(int depth) {
            if (depth > MAX_DEPTH) {
                throw error("nesting deeper than " + MAX_DEPTH);
            }
            if (pos >= text.length()) {
                throw error("expected a value");
            }
            char c = text.charAt(pos);
            switch (c) {
                case '{':
                    return object(depth);
                case '[':
                    return array(depth);
                case '"':
                    return string();
                case 't':
                    return literal("true", Boolean.TRUE);
                case 'f':
                    return literal("false", Boolean.FALSE);
                case 'n':
                    return literal("null", null);
                default:
                    if (c == '-' || (c >= '0' && c <= '9')) {
                        return number();
                    }
                    throw error("expected a value");
            }
        }

        private Map<String, Object> object(int depth) {
            LinkedHashMap<String, Object> map = new LinkedHashMap<>();
            pos++; // '{'
            skipWhitespace();
            if (peek() == '}') {
                pos++;
                return map;
            }
            while (true) {
                skipWhitespace();
                if (peek() != '"') {
                    throw error("expected a string key");
                }
                int keyPos = pos;
                String key = string();
                if (map.containsKey(key)) {
                    // a checkpoint header with two entries of one name is ambiguous: refuse it
                    pos = keyPos;
                    throw error("duplicate key \"" + key + "\"");
                }
                skipWhitespace();
                expect(':');
                skipWhitespace();
                map.put(key, value(depth + 1));
                skipWhitespace();
                char c = peek();
                if (c == ',') {
                    pos++;
                } else if (c == '}') {
                    pos++;
                    return map;
                } else {
                    throw error("expected ',' or '}'");
                }
            }
        }

        private List<Object> array(int depth) {
            List<Object> list = new ArrayList<>();
            pos++; // '['
            skipWhitespace();
            if (peek() == ']') {
                pos++;
                return list;
            }
            while (true) {
                skipWhitespace();
                list.add(value(depth + 1));
                skipWhitespace();
                char c = peek();
                if (c == ',') {
                    pos++;
                } else if (c == ']') {
                    pos++;
                    return list;
                } else {
                    throw error("expected ',' or ']'");
                }
            }
        }

        private String string() {
            pos++; // opening quote
            StringBuilder sb = new StringBuilder();
            while (true) {
                if (pos >= text.length()) {
                    throw error("unterminated string");
                }
                char c = text.charAt(pos);
                if (c == '"') {
                    pos++;
                    return sb.toString();
                }
                if (c < 0x20) {
                    throw error("control character in string (must be escaped)");
                }
                if (c != '\\') {
                    sb.append(c);
                    pos++;
                    continue;
                }
                if (pos + 1 >= text.length()) {
                    throw error("unterminated string");
                }
                char e = text.charAt(pos + 1);
                switch (e) {
                    case '"' -> sb.append('"');
                    case '\\' -> sb.append('\\');
                    case '/' -> sb.append('/');
                    case 'b' -> sb.append('\b');
                    case 'f' -> sb.append('\f');
                    case 'n' -> sb.append('\n');
                    case 'r' -> sb.append('\r');
                    case 't' -> sb.append('\t');
                    case 'u' -> {
                        if (pos + 6 > text.length()) {
                            throw error("\\u escape needs four hex digits");
                        }
                        int code = 0;
                        for (int i = pos + 2; i < pos + 6; i++) {
                            int d = Character.digit(text.charAt(i), 16);
                            if (d < 0) {
                                throw error("\\u escape needs four hex digits");
                            }
                            code = code * 16 + d;
                        }
                        // UTF-16 code units: a surrogate pair written as two escapes joins up
                        // in the Java string by itself
                        sb.append((char) code);
                        pos += 4;
                    }
                    default -> throw error("invalid escape '\\" + e + "'");
                }
                pos += 2;
            }
        }

        private Object number() {
            int start = pos;
            if (peek() == '-') {
                pos++;
            }
            if (peek() == '0') {
                pos++;
                if (isDigit(peek())) {
                    throw error("leading zeros are not allowed");
                }
            } else if (isDigit(peek())) {
                digits();
            } else {
                throw error("expected a digit");
            }
            boolean integral = true;
            if (peek() == '.') {
                integral = false;
                pos++;
                if (!isDigit(peek())) {
                    throw error("expected a digit after '.'");
                }
                digits();
            }
            if (peek() == 'e' || peek() == 'E') {
                integral = false;
                pos++;
                if (peek() == '+' || peek() == '-') {
                    pos++;
                }
                if (!isDigit(peek())) {
                    throw error("expected a digit in the exponent");
                }
                digits();
            }
            String s = text.substring(start, pos);
            if (integral) {
                try {
                    return Long.parseLong(s);
                } catch (NumberFormatException tooBig) {
                    // beyond the long range: still a valid JSON number, kept as a double
                }
            }
            return Double.parseDouble(s);
        }

        private void digits() {
            while (isDigit(peek())) {
                pos++;
            }
        }

        private static boolean isDigit(char c) {
            return c >= '0' && c <= '9';
        }

        private Object literal(String word, Object value) {
            if (!text.startsWith(word, pos)) {
                throw error("expected a value");
            }
            pos += word.length();
            return value;
        }

        private void expect(char c) {
            if (peek() != c) {
                throw error("expected '" + c + "'");
            }
            pos++;
        }

        /** The next char, or 0 at the end (0 is never valid unescaped JSON outside strings). */
        private char peek() {
            return pos < text.length() ? text.charAt(pos) : 0;
        }

        void skipWhitespace() {
            while (pos < text.length()) {
                char c = text.charAt(pos);
                if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
                    return;
                }
                pos++;
            }
        }

        FormatException error(String expected) {
            int line = 1;
            int column = 1;
            for (int i = 0; i < pos && i < text.length(); i++) {
                if (text.charAt(i) == '\n') {
                    line++;
                    column = 1;
                } else {
                    column++;
                }
            }
            String found = pos >= text.length() ? "end of input" : describe(text.charAt(pos));
            return new FormatException(source, "invalid JSON at line " + line + ", column " + column
                    + " (offset " + pos + "): " + expected + ", found " + found);
        }

        private static String describe(char c) {
            return c < 0x20 || c > 0x7e ? String.format("U+%04X", (int) c) : "'" + c + "'";
        }
    }
}
