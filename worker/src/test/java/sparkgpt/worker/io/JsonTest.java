// Tests for the strict JSON parser and writer: value types, escapes, number round trips and
// every rejection the parser promises, each with a position in the message.
package sparkgpt.worker.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class JsonTest {

    @Test
    void parsesEveryValueType() {
        Object v = Json.parse(" {\"a\": [1, -2.5, 3e2, true, false, null, \"s\"], \"b\": {}, \"c\": []}\n");
        Map<?, ?> m = assertInstanceOf(LinkedHashMap.class, v);
        assertEquals(List.of("a", "b", "c"), new ArrayList<>(m.keySet()));
        List<?> a = (List<?>) m.get("a");
        assertEquals(1L, a.get(0));
        assertEquals(-2.5, a.get(1));
        assertEquals(300.0, a.get(2));
        assertEquals(Boolean.TRUE, a.get(3));
        assertEquals(Boolean.FALSE, a.get(4));
        assertNull(a.get(5));
        assertEquals("s", a.get(6));
        assertEquals(Map.of(), m.get("b"));
        assertEquals(List.of(), m.get("c"));
    }

    @Test
    void integersAreLongsOtherNumbersDoubles() {
        assertEquals(0L, Json.parse("0"));
        assertEquals(-0L, Json.parse("-0"));
        assertEquals(Long.MAX_VALUE, Json.parse("9223372036854775807"));
        assertEquals(Long.MIN_VALUE, Json.parse("-9223372036854775808"));
        // beyond long: still valid JSON, kept as a double
        assertEquals(9223372036854775808.0, Json.parse("9223372036854775808"));
        assertEquals(1.0, Json.parse("1.0"));
        assertEquals(1e-8, Json.parse("1E-8"));
        assertEquals(1e8, Json.parse("1e+8"));
    }

    @Test
    void decodesEscapes() {
        assertEquals("q\"b\\s/\b\f\n\r\t", Json.parse("\"q\\\"b\\\\s\\/\\b\\f\\n\\r\\t\""));
        assertEquals("caf\u00e9", Json.parse("\"caf\\u00E9\""));
        assertEquals("\uD83D\uDE00", Json.parse("\"\\ud83d\\ude00\""));  // surrogate pair
        assertEquals("h\u00e9\u4e16", Json.parse("\"h\u00e9\u4e16\""));   // raw non-ASCII
    }

    @Test
    void writeThenParseRoundTrips() {
        LinkedHashMap<String, Object> inner = new LinkedHashMap<>();
        inner.put("neg", -7L);
        inner.put("pi", Math.PI);
        inner.put("tiny", 4.9e-324);
        inner.put("whole", 3.0);
        inner.put("esc", "tab\there \"q\" back\\slash \u0001 line\nnext \u00e9");
        inner.put("nil", null);
        LinkedHashMap<String, Object> doc = new LinkedHashMap<>();
        doc.put("list", Arrays.asList(1L, "two", false, null, List.of(), Map.of()));
        doc.put("inner", inner);
        String text = Json.write(doc);
        assertEquals(doc, Json.parse(text));
        assertEquals(text, Json.write(Json.parse(text)));
        assertTrue(text.contains("\\u0001"), text);
    }

    @Test
    void floatsAndDoublesRoundTrip() {
        Random rnd = new Random(7);
        for (int i = 0; i < 10_000; i++) {
            float f = Float.intBitsToFloat(rnd.nextInt());
            if (!Float.isFinite(f)) {
                continue;
            }
            double parsed = ((Number) Json.parse(Json.write(f))).doubleValue();
            assertEquals(Float.floatToIntBits(f), Float.floatToIntBits((float) parsed), "float " + f);
            double d = Double.longBitsToDouble(rnd.nextLong());
            if (Double.isFinite(d)) {
                assertEquals(d, ((Number) Json.parse(Json.write(d))).doubleValue(), "double " + d);
            }
        }
        assertEquals("0.003", Json.write(0.003f));
        assertEquals("1.0E-8", Json.write(1e-8));
    }

    @Test
    void writerRejectsWhatJsonCannotHold() {
        assertThrows(IllegalArgumentException.class, () -> Json.write(Double.NaN));
        assertThrows(IllegalArgumentException.class, () -> Json.write(Float.POSITIVE_INFINITY));
        assertThrows(IllegalArgumentException.class, () -> Json.write(Map.of(1, "x")));
        assertThrows(IllegalArgumentException.class, () -> Json.write(new Object()));
    }

    @Test
    void rejectsMalformedInputWithPosition() {
        String[][] cases = {
            {"", "line 1, column 1 (offset 0): expected a value, found end of input"},
            {"{\"a\":1,}", "offset 7): expected a string key"},
            {"[1,2,]", "offset 5): expected a value"},
            {"[1 2]", "offset 3): expected ',' or ']'"},
            {"{\"a\" 1}", "offset 5): expected ':'"},
            {"{\"a\":1 \"b\":2}", "offset 7): expected ',' or '}'"},
            {"01", "offset 1): leading zeros are not allowed"},
            {"1.", "offset 2): expected a digit after '.'"},
            {"1e", "offset 2): expected a digit in the exponent"},
            {"-", "offset 1): expected a digit"},
            {".5", "offset 0): expected a value"},
            {"NaN", "offset 0): expected a value"},
            {"tru", "offset 0): expected a value"},
            {"\"abc", "offset 4): unterminated string"},
            {"\"a\\x\"", "offset 2): invalid escape '\\x'"},
            {"\"\\u12g4\"", "offset 1): \\u escape needs four hex digits"},
            {"{\"k\":1,\"k\":2}", "offset 7): duplicate key \"k\""},
            {"{} {}", "offset 3): expected end of input"},
            {"[1] x", "found 'x'"},
        };
        for (String[] c : cases) {
            FormatException e = assertThrows(FormatException.class, () -> Json.parse(c[0], "conf/x.json"), c[0]);
            assertTrue(e.getMessage().startsWith("conf/x.json: invalid JSON at "), e.getMessage());
            assertTrue(e.getMessage().contains(c[1]), e.getMessage() + " should contain " + c[1]);
            assertEquals("conf/x.json", e.source());
        }
    }

    @Test
    void reportsLineAndColumnAndRawControlCharacters() {
        FormatException e = assertThrows(FormatException.class, () -> Json.parse("{\n  \"a\": [1,\n   x]}"));
        assertTrue(e.getMessage().contains("line 3, column 4"), e.getMessage());
        e = assertThrows(FormatException.class, () -> Json.parse("\"a\tb\""));
        assertTrue(e.getMessage().contains("control character in string"), e.getMessage());
        assertTrue(e.getMessage().contains("U+0009"), e.getMessage());
    }

    @Test
    void rejectsNestingTooDeepInsteadOfOverflowingTheStack() {
        String deep = "[".repeat(Json.MAX_DEPTH + 2) + "]".repeat(Json.MAX_DEPTH + 2);
        FormatException e = assertThrows(FormatException.class, () -> Json.parse(deep));
        assertTrue(e.getMessage().contains("nesting deeper than"), e.getMessage());
        String ok = "[".repeat(Json.MAX_DEPTH) + "]".repeat(Json.MAX_DEPTH);
        assertInstanceOf(List.class, Json.parse(ok));
    }
}
