// Tests for the safetensors reader and writer: round trips through every entry point, the
// on-disk layout, and one crafted bad file per rejection the reader promises.
package sparkgpt.worker.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

class SafeTensorsTest {

    private static final String SRC = "ckpt/bad.safetensors";

    private static SafeTensors.Writer sampleWriter() {
        return new SafeTensors.Writer()
                .metadata("format", "pt")
                .f32("w", new float[] {1.5f, -2f, Float.MIN_VALUE, Float.MAX_VALUE, -0f, 3e-8f}, 2, 3)
                .i32("tokens", new int[] {0, 50256, -1, Integer.MAX_VALUE}, 4)
                .f32("scalar", new float[] {42f})
                .f32("empty", new float[0], 0, 5);
    }

    private static byte[] sample() {
        return sampleWriter().toBytes();
    }

    private static void checkSample(SafeTensors st) {
        assertEquals(List.of("w", "tokens", "scalar", "empty"), List.copyOf(st.tensors().keySet()));
        assertEquals(Map.of("format", "pt"), st.metadata());
        assertArrayEquals(new float[] {1.5f, -2f, Float.MIN_VALUE, Float.MAX_VALUE, -0f, 3e-8f}, st.requireF32("w", 2, 3));
        assertArrayEquals(new long[] {2, 3}, st.get("w").shape());
        assertArrayEquals(new int[] {0, 50256, -1, Integer.MAX_VALUE}, st.requireInts("tokens"));
        assertEquals("I32", st.get("tokens").dtype());
        assertArrayEquals(new long[0], st.get("scalar").shape());
        assertArrayEquals(new float[] {42f}, st.requireF32("scalar"));
        assertEquals(0, st.requireF32("empty", 0, 5).length);
    }

    @Test
    void roundTripsThroughBytesStreamAndPath(@TempDir Path dir) throws IOException {
        byte[] bytes = sample();
        checkSample(SafeTensors.read(bytes, "mem"));
        checkSample(SafeTensors.read(new ByteArrayInputStream(bytes), "stream"));
        Path file = dir.resolve("m.safetensors");
        sampleWriter().writeTo(file);
        assertArrayEquals(bytes, Files.readAllBytes(file));
        checkSample(SafeTensors.read(file));
        try (var files = Files.list(dir)) {
            assertEquals(1, files.count(), "the temporary file must be gone");
        }
    }

    @Test
    void layoutIsLittleEndianWithHeaderPaddedToEightBytes() {
        float[] big = new float[100_003]; // spans several write chunks
        for (int i = 0; i < big.length; i++) {
            big[i] = i * 0.25f - 7f;
        }
        LinkedHashMap<String, float[]> data = new LinkedHashMap<>();
        data.put("b", big);
        data.put("a", new float[] {1f, 2f});
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            SafeTensors.write(out, data, Map.of("a", new long[] {2}, "b", new long[] {big.length}), Map.of("format", "pt"));
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        byte[] bytes = out.toByteArray();
        ByteBuffer bb = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        long n = bb.getLong(0);
        assertEquals(0, n % 8, "header length must be a multiple of 8");
        String header = new String(bytes, 8, (int) n, StandardCharsets.UTF_8);
        assertTrue(header.startsWith("{\"__metadata__\":{\"format\":\"pt\"},\"b\":{\"dtype\":\"F32\",\"shape\":[100003],"
                + "\"data_offsets\":[0,400012]},\"a\":"), header);
        assertTrue(header.stripTrailing().endsWith("}"), header);
        assertEquals(8 + n + 4L * (big.length + 2), bytes.length);
        // insertion order: b's data first, then a's
        assertEquals(-7f, bb.getFloat(8 + (int) n));
        assertEquals(1f, bb.getFloat(8 + (int) n + 4 * big.length));
        SafeTensors st = SafeTensors.read(bytes, "mem");
        assertEquals(List.of("b", "a"), List.copyOf(st.tensors().keySet()));
        assertArrayEquals(big, st.requireF32("b"));
    }

    @Test
    void readsI64AndKeepsOtherDtypesRaw() {
        String json = "{\"ids\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]},"
                + "\"half\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[16,20]}}";
        ByteBuffer data = ByteBuffer.allocate(20).order(ByteOrder.LITTLE_ENDIAN);
        data.putLong(7).putLong(-3).putShort((short) 0x3C00).putShort((short) 0x4000);
        SafeTensors st = SafeTensors.read(file(json, data.array()), SRC);
        assertArrayEquals(new int[] {7, -3}, st.requireInts("ids"));
        assertArrayEquals(new long[] {7, -3}, st.get("ids").longs());
        assertArrayEquals(new byte[] {0x00, 0x3C, 0x00, 0x40}, st.get("half").raw());
        // the file opens; only asking for F32 where it is not F32 fails
        expectError(() -> st.requireF32("half"), "tensor 'half' is F16, expected F32");
        expectError(() -> st.requireF32("ids"), "tensor 'ids' is I64, expected F32");
        expectError(() -> st.requireF32("nope"), "no tensor named 'nope'");
        expectError(() -> st.requireInts("half"), "expected I32 or I64");
    }

    @Test
    void rejectsI64ThatDoesNotFitAnInt() {
        String json = "{\"ids\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}";
        byte[] data = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(1L << 40).array();
        SafeTensors st = SafeTensors.read(file(json, data), SRC);
        expectError(() -> st.requireInts("ids"), "element 0 = 1099511627776 does not fit in a 32-bit int");
    }

    @Test
    void rejectsWrongShapeWhenOneIsRequired() {
        SafeTensors st = SafeTensors.read(sample(), SRC);
        expectError(() -> st.requireF32("w", 3, 2), "tensor 'w' has shape [2, 3], expected [3, 2]");
    }

    // ------------------------------------------------------------ crafted bad files

    /** A file with the given header text (unpadded) and data section. */
    private static byte[] file(String header, byte[] data) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        return fileWithLength(h.length, h, data);
    }

    private static byte[] fileWithLength(long declared, byte[] header, byte[] data) {
        ByteBuffer bb = ByteBuffer.allocate(8 + header.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        bb.putLong(declared).put(header).put(data);
        return bb.array();
    }

    private static String entry(String name, String dtype, String shape, long begin, long end) {
        return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" + begin + "," + end + "]}";
    }

    /**
     * Checks the bytes are rejected naming the file, and that streaming them (every tensor read
     * past, or every tensor decoded) ends in the very same message.
     */
    private static void expectRejected(byte[] bytes, String expected) {
        String message = expectError(() -> SafeTensors.read(bytes, SRC), expected);
        expectStreamedTheSame(message, () -> SafeTensors.open(new ByteArrayInputStream(bytes), bytes.length, SRC));
    }

    private static String expectError(Executable call, String expected) {
        FormatException e = assertThrows(FormatException.class, call);
        assertTrue(e.getMessage().startsWith(SRC), "message must name the file: " + e.getMessage());
        assertTrue(e.getMessage().contains(expected), e.getMessage() + "\n  should contain: " + expected);
        return e.getMessage();
    }

    private static void expectRejectedFromStream(byte[] bytes, String expected) {
        String message = expectError(() -> SafeTensors.read(new ByteArrayInputStream(bytes), SRC), expected);
        expectStreamedTheSame(message, () -> SafeTensors.open(new ByteArrayInputStream(bytes), SRC));
    }

    private interface Opener {
        SafeTensors.Reader open() throws IOException;
    }

    private static void expectStreamedTheSame(String message, Opener opener) {
        FormatException skipped = assertThrows(FormatException.class, () -> opener.open().readInto(e -> SafeTensors.Target.skip()));
        assertEquals(message, skipped.getMessage(), "read past");
        FormatException decoded = assertThrows(FormatException.class,
                () -> opener.open().readInto(e -> SafeTensors.Target.temporary(values -> { })));
        assertEquals(message, decoded.getMessage(), "decoded");
    }

    @Test
    void rejectsFileShorterThanTheLengthPrefix() {
        expectRejected(new byte[5], "file is 5 bytes long, too short for the 8-byte header length");
        expectRejectedFromStream(new byte[0], "file is 0 bytes long");
    }

    @Test
    void rejectsHeaderLengthOverLimit() {
        byte[] bytes = fileWithLength(SafeTensors.MAX_HEADER_BYTES + 1, new byte[0], new byte[0]);
        expectRejected(bytes, "header length 100000001 bytes is over the limit of 100000000 bytes");
        expectRejectedFromStream(bytes, "is over the limit");
        // a "negative" u64 is a huge unsigned length, reported as such
        expectRejected(fileWithLength(-1, new byte[0], new byte[0]), "header length 18446744073709551615 bytes is over");
    }

    @Test
    void rejectsHeaderLengthPastEndOfFile() {
        byte[] h = "{}".getBytes(StandardCharsets.UTF_8);
        expectRejected(fileWithLength(64, h, new byte[0]), "header length 64 bytes runs past the end of the file (10 bytes)");
        expectRejectedFromStream(fileWithLength(64, h, new byte[0]), "header length 64 bytes runs past the end of the file");
    }

    @Test
    void rejectsBadHeaderText() {
        expectRejected(file("{\"w\":{\"dtype\":\"F32\",", new byte[0]), "invalid JSON at line 1, column 21 (offset 20): expected a string key");
        expectRejected(file("[1,2]", new byte[0]), "header must be a JSON object");
        expectRejected(fileWithLength(2, new byte[] {(byte) 0xC3, (byte) 0x28}, new byte[0]), "header is not valid UTF-8");
        expectRejected(file("{" + entry("w", "F32", "[1]", 0, 4) + "," + entry("w", "F32", "[1]", 4, 8) + "}", new byte[8]),
                "duplicate key \"w\"");
    }

    @Test
    void rejectsMissingOrMistypedFields() {
        expectRejected(file("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", new byte[4]), "tensor 'w': missing field 'dtype'");
        expectRejected(file("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", new byte[4]), "tensor 'w': missing field 'shape'");
        expectRejected(file("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", new byte[4]), "tensor 'w': missing field 'data_offsets'");
        expectRejected(file("{\"w\":[1]}", new byte[0]), "tensor 'w' must be a JSON object");
        expectRejected(file("{\"w\":{\"dtype\":1,\"shape\":[1],\"data_offsets\":[0,4]}}", new byte[4]), "dtype must be a string");
        expectRejected(file("{" + entry("w", "F32", "[-1]", 0, 4) + "}", new byte[4]),
                "tensor 'w': shape must be an array of non-negative integers, got [-1]");
        expectRejected(file("{" + entry("w", "F32", "[1.5]", 0, 4) + "}", new byte[4]), "shape must be an array");
        expectRejected(file("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", new byte[4]),
                "data_offsets must be an array of 2 non-negative integers, got [0]");
        expectRejected(file("{" + entry("w", "F32", "[0]", 4, 0) + "}", new byte[4]), "end before they begin");
        expectRejected(file("{\"__metadata__\":{\"format\":1}}", new byte[0]), "__metadata__ entry 'format' must be a string");
        expectRejected(file("{\"__metadata__\":[]}", new byte[0]), "__metadata__ must be a JSON object");
    }

    @Test
    void rejectsUnknownDtype() {
        expectRejected(file("{" + entry("w", "F31", "[1]", 0, 4) + "}", new byte[4]), "tensor 'w': unknown dtype 'F31'");
    }

    @Test
    void rejectsOffsetsOutOfRange() {
        expectRejected(file("{" + entry("w", "F32", "[2]", 4, 12) + "," + entry("v", "F32", "[1]", 0, 4) + "}", new byte[8]),
                "tensor 'w' data_offsets [4, 12] run past the end of the data section (8 bytes)");
        // from a stream the length is unknown: the end of the file is found while reading
        expectRejectedFromStream(file("{" + entry("w", "F32", "[2]", 0, 8) + "}", new byte[4]),
                "tensor 'w' data_offsets [0, 8] run past the end of the file");
    }

    @Test
    void rejectsOverlappingTensors() {
        expectRejected(file("{" + entry("a", "F32", "[2]", 0, 8) + "," + entry("b", "F32", "[2]", 4, 12) + "}", new byte[12]),
                "tensor 'b' data_offsets [4, 12] overlap tensor 'a' [0, 8]");
    }

    @Test
    void rejectsGapsInTheDataSection() {
        expectRejected(file("{" + entry("a", "F32", "[1]", 0, 4) + "," + entry("b", "F32", "[1]", 8, 12) + "}", new byte[12]),
                "data bytes [4, 8) belong to no tensor (gap before 'b')");
        expectRejected(file("{" + entry("a", "F32", "[1]", 4, 8) + "}", new byte[8]), "data bytes [0, 4) belong to no tensor");
        expectRejected(file("{" + entry("a", "F32", "[1]", 0, 4) + "}", new byte[8]),
                "data section is 8 bytes but the tensors cover only 4");
        expectRejectedFromStream(file("{" + entry("a", "F32", "[1]", 0, 4) + "}", new byte[8]),
                "data section has bytes after the last tensor");
    }

    @Test
    void rejectsShapeNotMatchingByteLength() {
        expectRejected(file("{" + entry("w", "F32", "[3]", 0, 8) + "}", new byte[8]),
                "tensor 'w': shape [3] of F32 needs 12 bytes but data_offsets [0, 8] span 8");
        expectRejected(file("{" + entry("w", "F32", "[4611686018427387904,4]", 0, 8) + "}", new byte[8]), "is too large");
    }

    @Test
    void readsAFileFromTheReferenceImplementationLayout() {
        // Header as Python's safetensors writes it: unsorted-looking keys, metadata, space padding
        String json = "{\"__metadata__\":{\"format\":\"pt\"},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
                + "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
        json += " ".repeat((8 - json.length() % 8) % 8);
        byte[] data = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putFloat(1f).putFloat(2f).array();
        SafeTensors st = SafeTensors.read(file(json, data), SRC);
        assertArrayEquals(new float[] {1f}, st.requireF32("a"));
        assertArrayEquals(new float[] {2f}, st.requireF32("b"));
        assertEquals(List.of("a", "b"), List.copyOf(st.tensors().keySet()), "ordered by data offset");
    }

    // ------------------------------------------------------------ streaming

    @Test
    void streamsEachTensorIntoItsSliceOfAnArrayOrSkipsIt() throws IOException {
        byte[] bytes = sample();
        SafeTensors.Reader r = SafeTensors.open(new ByteArrayInputStream(bytes), bytes.length, "mem");
        assertEquals(List.of("w", "tokens", "scalar", "empty"), r.entries().stream().map(SafeTensors.Entry::name).toList());
        assertEquals(Map.of("format", "pt"), r.metadata());
        assertTrue(r.contains("tokens"));
        SafeTensors.Entry w = r.requireF32("w", 2, 3);
        assertEquals(6, w.numel());
        assertEquals(0, w.begin());
        assertEquals(24, w.end());

        float[] flat = new float[12];
        Arrays.fill(flat, 9f);
        List<float[]> handedOn = new ArrayList<>();
        List<String> asked = new ArrayList<>();
        r.readInto(e -> {
            asked.add(e.name());
            return switch (e.name()) {
                case "w" -> SafeTensors.Target.into(flat, 3);
                case "scalar" -> SafeTensors.Target.temporary(handedOn::add);
                case "empty" -> SafeTensors.Target.into(flat, 12); // no elements: fits at the very end
                default -> SafeTensors.Target.skip(); // the I32 tensor: read past, never decoded
            };
        });
        assertEquals(List.of("w", "tokens", "scalar", "empty"), asked, "in data order");
        assertArrayEquals(new float[] {9f, 9f, 9f, 1.5f, -2f, Float.MIN_VALUE, Float.MAX_VALUE, -0f, 3e-8f, 9f, 9f, 9f}, flat);
        assertEquals(1, handedOn.size());
        assertArrayEquals(new float[] {42f}, handedOn.get(0));
        assertThrows(IllegalStateException.class, () -> r.readInto(e -> SafeTensors.Target.skip()), "the data is read once");
    }

    @Test
    void streamingGivesTheSameValuesAsReadingTheWholeFile() throws IOException {
        float[] big = new float[100_002]; // several decode chunks, the last one partial
        Random random = new Random(5);
        for (int i = 0; i < big.length; i++) {
            big[i] = (float) random.nextGaussian();
        }
        big[17] = Float.NaN;
        big[18] = Float.intBitsToFloat(0x7fc00001); // a NaN payload must survive
        big[19] = Float.NEGATIVE_INFINITY;
        byte[] bytes = new SafeTensors.Writer().f32("a", new float[] {1f, 2f}, 2).f32("big", big, 2, 50_001)
                .f32("c", new float[] {-3f}, 1).toBytes();
        SafeTensors whole = SafeTensors.read(bytes, "mem");
        float[] flat = new float[2 + big.length + 1];
        SafeTensors.open(new ByteArrayInputStream(bytes), "mem").readInto(e -> SafeTensors.Target.into(flat, (int) (e.begin() / 4)));
        int at = 0;
        for (String name : List.of("a", "big", "c")) {
            float[] expected = whole.requireF32(name);
            for (int i = 0; i < expected.length; i++, at++) {
                assertEquals(Float.floatToRawIntBits(expected[i]), Float.floatToRawIntBits(flat[at]), name + "[" + i + "]");
            }
        }
        assertEquals(flat.length, at);
    }

    @Test
    void streamingChecksWhatTheCallerAsksFor() throws IOException {
        byte[] bytes = sample();
        SafeTensors.Reader r = SafeTensors.open(new ByteArrayInputStream(bytes), SRC);
        // the header checks of SafeTensors.requireF32, with its messages
        SafeTensors whole = SafeTensors.read(bytes, SRC);
        assertEquals(assertThrows(FormatException.class, () -> whole.requireF32("w", 3, 2)).getMessage(),
                expectError(() -> r.requireF32("w", 3, 2), "tensor 'w' has shape [2, 3], expected [3, 2]"));
        assertEquals(assertThrows(FormatException.class, () -> whole.requireF32("tokens", 4)).getMessage(),
                expectError(() -> r.requireF32("tokens", 4), "tensor 'tokens' is I32, expected F32"));
        assertEquals(assertThrows(FormatException.class, () -> whole.requireF32("nope")).getMessage(),
                expectError(() -> r.requireF32("nope"), "no tensor named 'nope'"));
        // an array target for a tensor that is not F32
        expectError(() -> SafeTensors.open(new ByteArrayInputStream(bytes), SRC)
                .readInto(e -> SafeTensors.Target.into(new float[100], 0)), "tensor 'tokens' is I32, expected F32");
        // a slice that does not fit is the caller's mistake, not the file's
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SafeTensors.open(new ByteArrayInputStream(bytes), SRC)
                .readInto(t -> t.name().equals("w") ? SafeTensors.Target.into(new float[8], 3) : SafeTensors.Target.skip()));
        assertTrue(e.getMessage().contains("tensor 'w' of 6 elements does not fit at 3 in an array of 8"), e.getMessage());
    }

    /** A file of 8 + header + data bytes whose data is made up as it is read: zeros, then {@code tail}. */
    private static InputStream madeUp(String header, long dataBytes, byte[] tail) {
        byte[] head = fileWithLength(header.length(), header.getBytes(StandardCharsets.UTF_8), new byte[0]);
        long length = head.length + dataBytes;
        return new InputStream() {
            long at;

            @Override
            public int read() {
                byte[] one = new byte[1];
                return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
            }

            @Override
            public int read(byte[] b, int off, int len) {
                if (at >= length) return -1;
                int n = (int) Math.min(len, length - at);
                Arrays.fill(b, off, off + n, (byte) 0);
                for (int i = 0; i < n && at + i < head.length; i++) {
                    b[off + i] = head[(int) (at + i)];
                }
                long tailStart = length - tail.length;
                for (long p = Math.max(at, tailStart); p < at + n; p++) {
                    b[off + (int) (p - at)] = tail[(int) (p - tailStart)];
                }
                at += n;
                return n;
            }
        };
    }

    @Test
    void offsetsPast2To31BytesStream() throws IOException {
        // a first tensor of 2^31 + 8 bytes, then one that begins past 2^31 in the data section
        long big = (1L << 31) + 8;
        String header = "{" + entry("big", "F32", "[" + big / 4 + "]", 0, big) + ","
                + entry("w", "F32", "[2]", big, big + 8) + "}";
        byte[] tail = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putFloat(-1.25f).putFloat(7f).array();
        float[] out = new float[4];
        SafeTensors.Reader r = SafeTensors.open(madeUp(header, big + 8, tail), SRC);
        assertEquals(big, r.requireF32("w", 2).begin());
        r.readInto(e -> e.name().equals("w") ? SafeTensors.Target.into(out, 1) : SafeTensors.Target.skip());
        assertArrayEquals(new float[] {0f, -1.25f, 7f, 0f}, out);
        // and the end of such a file is still checked: 4 bytes short
        expectError(() -> SafeTensors.open(madeUp(header, big + 4, new byte[0]), SRC).readInto(e -> SafeTensors.Target.skip()),
                "tensor 'w' data_offsets [" + big + ", " + (big + 8) + "] run past the end of the file");
    }

    @Test
    void writerRejectsInconsistentInput() {
        assertThrows(IllegalArgumentException.class, () -> new SafeTensors.Writer().f32("w", new float[3], 2, 2));
        // (-1) x (-1) has the right product but is no shape
        assertThrows(IllegalArgumentException.class, () -> new SafeTensors.Writer().f32("w", new float[1], -1, -1));
        assertThrows(IllegalArgumentException.class, () -> new SafeTensors.Writer().f32("w", new float[1]).f32("w", new float[1]));
        assertThrows(IllegalArgumentException.class, () -> new SafeTensors.Writer().f32("__metadata__", new float[1]));
        LinkedHashMap<String, float[]> data = new LinkedHashMap<>();
        data.put("w", new float[1]);
        assertThrows(IllegalArgumentException.class,
                () -> SafeTensors.write(new ByteArrayOutputStream(), data, Map.of(), Map.of()));
    }
}
