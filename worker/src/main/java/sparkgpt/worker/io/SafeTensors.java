// Reads and writes the safetensors format (Hugging Face checkpoints, the reference fixtures):
// u64 little-endian header length, a JSON header, then the raw little-endian tensor data.
package sparkgpt.worker.io;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * A parsed safetensors file: tensors in data order plus the {@code __metadata__} strings.
 *
 * <p>Reading validates the file the way the reference implementation does
 * (github.com/huggingface/safetensors, {@code Metadata::validate}): the header is at most 100 MB,
 * every tensor's byte span matches its dtype and shape, spans neither overlap nor leave gaps, and
 * together they cover the data section exactly. Any violation is one {@link FormatException}
 * naming the file. F32, I32 and I64 are decoded to Java arrays; other known dtypes are kept as
 * raw little-endian bytes so that a file holding them still opens and only
 * {@link #requireF32(String)} on such a tensor fails.
 *
 * <p>{@link #read} holds every tensor of the file at once. {@link #open} reads and checks the header
 * only; its {@link Reader#readInto} then streams the data in one pass, decoding each F32 tensor
 * straight into the caller's array (a slice of a flat parameter buffer) or skipping it, so a model
 * is never held twice: the extra memory is one 64 KiB chunk (plus any tensor the caller asks for as
 * a temporary array to transform).
 */
public final class SafeTensors {
    /** The reference implementation's MAX_HEADER_SIZE; a larger header is corrupt or hostile. */
    public static final long MAX_HEADER_BYTES = 100_000_000L;

    /** The metadata entry that is not a tensor. */
    public static final String METADATA_KEY = "__metadata__";

    /** Bytes per element of the dtypes in the safetensors spec that are a whole number of bytes. */
    private static final Map<String, Integer> DTYPE_BYTES = Map.ofEntries(
            Map.entry("BOOL", 1), Map.entry("U8", 1), Map.entry("I8", 1),
            Map.entry("F8_E5M2", 1), Map.entry("F8_E4M3", 1), Map.entry("F8_E8M0", 1),
            Map.entry("I16", 2), Map.entry("U16", 2), Map.entry("F16", 2), Map.entry("BF16", 2),
            Map.entry("I32", 4), Map.entry("U32", 4), Map.entry("F32", 4),
            Map.entry("I64", 8), Map.entry("U64", 8), Map.entry("F64", 8));

    /** Tensor data is decoded through a buffer of this size, so no whole-file copy is made. */
    private static final int CHUNK = 1 << 16;

    /** Java arrays stop a little short of Integer.MAX_VALUE elements on common JVMs. */
    private static final long MAX_ARRAY = Integer.MAX_VALUE - 8;

    /**
     * One tensor. {@code data} is a {@code float[]} for F32, {@code int[]} for I32,
     * {@code long[]} for I64 and a little-endian {@code byte[]} for every other dtype; use the
     * typed accessors, which name the file when the dtype is not the one asked for.
     * The arrays are shared, not copied.
     */
    public record Tensor(String source, String name, String dtype, long[] shape, Object data) {
        /** Number of elements: the product of the shape (1 for a scalar). */
        public long numel() {
            long n = 1;
            for (long d : shape) {
                n *= d;
            }
            return n;
        }

        /** The F32 data. */
        public float[] floats() {
            if (data instanceof float[] f) {
                return f;
            }
            throw notF32(source, name, dtype);
        }

        /** I32 data, or I64 data narrowed to int (token ids); a value outside int is an error. */
        public int[] ints() {
            if (data instanceof int[] i) {
                return i;
            }
            if (data instanceof long[] l) {
                int[] out = new int[l.length];
                for (int k = 0; k < l.length; k++) {
                    if (l[k] != (int) l[k]) {
                        throw new FormatException(source, "tensor '" + name + "' element " + k + " = " + l[k]
                                + " does not fit in a 32-bit int");
                    }
                    out[k] = (int) l[k];
                }
                return out;
            }
            throw new FormatException(source, "tensor '" + name + "' is " + dtype + ", expected I32 or I64");
        }

        /** I64 data, or I32 data widened to long. */
        public long[] longs() {
            if (data instanceof long[] l) {
                return l;
            }
            if (data instanceof int[] i) {
                return Arrays.stream(i).asLongStream().toArray();
            }
            throw new FormatException(source, "tensor '" + name + "' is " + dtype + ", expected I64 or I32");
        }

        /** The little-endian bytes of a tensor whose dtype is not decoded (F16, BF16, U8, ...). */
        public byte[] raw() {
            if (data instanceof byte[] b) {
                return b;
            }
            throw new FormatException(source, "tensor '" + name + "' is " + dtype + ", which is decoded; use its typed accessor");
        }

        @Override
        public String toString() {
            return name + " " + dtype + Arrays.toString(shape);
        }
    }

    private final String source;
    private final Map<String, Tensor> tensors;
    private final Map<String, String> metadata;

    private SafeTensors(String source, Map<String, Tensor> tensors, Map<String, String> metadata) {
        this.source = source;
        this.tensors = Collections.unmodifiableMap(tensors);
        this.metadata = Collections.unmodifiableMap(metadata);
    }

    /** Where this was read from, as used in error messages. */
    public String source() {
        return source;
    }

    /** All tensors, in the order of their data in the file (our writer: insertion order). */
    public Map<String, Tensor> tensors() {
        return tensors;
    }

    /** The {@code __metadata__} strings (empty when the file has none). */
    public Map<String, String> metadata() {
        return metadata;
    }

    public boolean contains(String name) {
        return tensors.containsKey(name);
    }

    /** The named tensor; its absence is an error naming the file. */
    public Tensor get(String name) {
        Tensor t = tensors.get(name);
        if (t == null) {
            throw new FormatException(source, "no tensor named '" + name + "'");
        }
        return t;
    }

    /** The named tensor's data, which must be F32. */
    public float[] requireF32(String name) {
        return get(name).floats();
    }

    /** The named tensor's data, which must be F32 and have exactly {@code shape}. */
    public float[] requireF32(String name, long... shape) {
        Tensor t = get(name);
        requireShape(source, name, t.shape(), shape);
        return t.floats();
    }

    private static void requireShape(String source, String name, long[] actual, long[] expected) {
        if (!Arrays.equals(actual, expected)) {
            throw new FormatException(source, "tensor '" + name + "' has shape " + Arrays.toString(actual)
                    + ", expected " + Arrays.toString(expected));
        }
    }

    private static FormatException notF32(String source, String name, String dtype) {
        return new FormatException(source, "tensor '" + name + "' is " + dtype + ", expected F32");
    }

    /** The named tensor's data as ints (I32, or I64 within int range). */
    public int[] requireInts(String name) {
        return get(name).ints();
    }

    // ---------------------------------------------------------------- reading

    /** Reads a whole file; messages name {@code path}. */
    public static SafeTensors read(Path path) throws IOException {
        long size = Files.size(path);
        try (InputStream in = Files.newInputStream(path)) {
            return read(in, size, path.toString());
        }
    }

    /** Reads an in-memory file; messages name {@code source}. */
    public static SafeTensors read(byte[] bytes, String source) {
        try {
            return read(new ByteArrayInputStream(bytes), bytes.length, source);
        } catch (IOException e) {
            throw new AssertionError("ByteArrayInputStream does not fail", e);
        }
    }

    /**
     * Reads from a stream of unknown length up to its end (a file truncated inside the data, or
     * bytes after the last tensor, are reported when reached). Does not close {@code in}.
     */
    public static SafeTensors read(InputStream in, String source) throws IOException {
        return read(in, -1, source);
    }

    /**
     * One tensor as the header describes it: name, dtype, shape and its bytes [begin, end) in the
     * data section (longs: a file, and one tensor in it, may pass 2^31 bytes).
     */
    public record Entry(String name, String dtype, long[] shape, long begin, long end) {
        /** Number of elements: the product of the shape (1 for a scalar). */
        public long numel() {
            long n = 1;
            for (long d : shape) {
                n *= d;
            }
            return n;
        }

        @Override
        public String toString() {
            return name + " " + dtype + Arrays.toString(shape) + " [" + begin + ", " + end + ")";
        }
    }

    /**
     * Where {@link Reader#readInto} puts one tensor: into a float[] at an offset, into a temporary
     * array handed on to a function (for a tensor that must be transformed, e.g. transposed, on its
     * way into place), or nowhere (skipped without being allocated).
     */
    public static final class Target {
        private static final Target SKIP = new Target(null, 0, null);

        private final float[] array;
        private final int offset;
        private final Consumer<float[]> then;

        private Target(float[] array, int offset, Consumer<float[]> then) {
            this.array = array;
            this.offset = offset;
            this.then = then;
        }

        /** The tensor is not needed: its bytes are read past, not decoded. */
        public static Target skip() {
            return SKIP;
        }

        /** The tensor's F32 values go to array[offset, offset + numel), which must lie inside the array. */
        public static Target into(float[] array, int offset) {
            return new Target(Objects.requireNonNull(array, "array"), offset, null);
        }

        /** The tensor's F32 values go to a new float[numel], which is then passed to {@code then}. */
        public static Target temporary(Consumer<float[]> then) {
            return new Target(null, 0, Objects.requireNonNull(then, "then"));
        }
    }

    /** Says, for each tensor as its data is reached (in data order), where its values go. */
    @FunctionalInterface
    public interface Sink {
        Target target(Entry tensor);
    }

    /**
     * A file whose header has been read and checked (everything {@link #read} checks before the data)
     * and whose data has not: {@link #entries()} lets a caller check names, shapes and dtypes before
     * any data is read; {@link #readInto} then reads the data once.
     */
    public static final class Reader {
        private final InputStream in;
        private final String source;
        private final List<Entry> entries;
        private final Map<String, Entry> byName = new LinkedHashMap<>();
        private final Map<String, String> metadata;
        private final long dataLength;
        private boolean consumed;

        private Reader(InputStream in, String source, List<Entry> entries, Map<String, String> metadata, long dataLength) {
            this.in = in;
            this.source = source;
            this.entries = Collections.unmodifiableList(entries);
            for (Entry e : entries) {
                byName.put(e.name(), e);
            }
            this.metadata = Collections.unmodifiableMap(metadata);
            this.dataLength = dataLength;
        }

        /** Where this is read from, as used in error messages. */
        public String source() {
            return source;
        }

        /** The tensors in the order of their data. */
        public List<Entry> entries() {
            return entries;
        }

        /** The {@code __metadata__} strings (empty when the file has none). */
        public Map<String, String> metadata() {
            return metadata;
        }

        public boolean contains(String name) {
            return byName.containsKey(name);
        }

        /**
         * The named tensor's entry, which must be F32 with exactly {@code shape}: the checks, and
         * messages, of {@link SafeTensors#requireF32(String, long...)}.
         */
        public Entry requireF32(String name, long... shape) {
            Entry e = byName.get(name);
            if (e == null) {
                throw new FormatException(source, "no tensor named '" + name + "'");
            }
            requireShape(source, name, e.shape(), shape);
            if (!e.dtype().equals("F32")) {
                throw notF32(source, name, e.dtype());
            }
            return e;
        }

        /**
         * Reads the data section once, asking {@code sink} where each tensor goes as its data is
         * reached. A tensor sent to an array must be F32 (else the message of
         * {@link Tensor#floats()}); a truncated file, or bytes after the last tensor, are reported as
         * {@link #read} reports them. On an error the arrays hold part of the file.
         */
        public void readInto(Sink sink) throws IOException {
            pass((e, chunk) -> {
                Target t = Objects.requireNonNull(sink.target(e), "sink's target for " + e.name());
                long bytes = e.end() - e.begin();
                if (t == Target.SKIP) {
                    discard(in, bytes, chunk);
                    return;
                }
                if (!e.dtype().equals("F32")) {
                    throw notF32(source, e.name(), e.dtype());
                }
                long numel = e.numel(); // at most MAX_ARRAY (parseEntry)
                float[] out = t.array != null ? t.array : new float[(int) numel];
                if (t.offset < 0 || t.offset + numel > out.length) {
                    throw new IllegalArgumentException("tensor '" + e.name() + "' of " + numel + " elements does not fit at "
                            + t.offset + " in an array of " + out.length);
                }
                decodeF32(in, bytes, out, t.offset, chunk);
                if (t.then != null) {
                    t.then.accept(out);
                }
            });
        }

        /** Every tensor decoded into its own array: {@link #read}. */
        private SafeTensors readAll() throws IOException {
            LinkedHashMap<String, Tensor> tensors = new LinkedHashMap<>();
            pass((e, chunk) -> tensors.put(e.name(), new Tensor(source, e.name(), e.dtype(), e.shape(), decode(in, e, chunk, source))));
            return new SafeTensors(source, tensors, metadata);
        }

        private interface EntryReader {
            void read(Entry e, byte[] chunk) throws IOException;
        }

        /** entries are sorted by offset and contiguous from 0 (validateLayout): the data is read in one pass. */
        private void pass(EntryReader reader) throws IOException {
            if (consumed) {
                throw new IllegalStateException(source + ": the data has already been read");
            }
            consumed = true;
            byte[] chunk = new byte[CHUNK];
            for (Entry en : entries) {
                try {
                    reader.read(en, chunk);
                } catch (EOFException eof) {
                    throw new FormatException(source, "tensor '" + en.name() + "' data_offsets [" + en.begin() + ", "
                            + en.end() + "] run past the end of the file");
                }
            }
            if (dataLength < 0 && in.read() != -1) {
                throw new FormatException(source, "data section has bytes after the last tensor (ends at offset "
                        + (entries.isEmpty() ? 0 : entries.get(entries.size() - 1).end())
                        + "); tensors must cover it exactly");
            }
        }
    }

    private static SafeTensors read(InputStream in, long fileLength, String source) throws IOException {
        return open(in, fileLength, source).readAll();
    }

    /**
     * Reads and checks the header of a stream of unknown length; a file truncated inside the data,
     * or bytes after the last tensor, are reported by {@link Reader#readInto}. Does not close {@code in}.
     */
    public static Reader open(InputStream in, String source) throws IOException {
        return open(in, -1, source);
    }

    /**
     * Reads and checks the header of a file of {@code fileLength} bytes (-1: unknown), including that
     * the tensors cover the data section exactly. Does not close {@code in}.
     */
    public static Reader open(InputStream in, long fileLength, String source) throws IOException {
        byte[] prefix = new byte[8];
        int got = readUpTo(in, prefix, 0, 8);
        if (got < 8) {
            throw new FormatException(source, "file is " + got + " bytes long, too short for the 8-byte header length");
        }
        long headerLength = ByteBuffer.wrap(prefix).order(ByteOrder.LITTLE_ENDIAN).getLong();
        if (headerLength < 0 || headerLength > MAX_HEADER_BYTES) {
            throw new FormatException(source, "header length " + Long.toUnsignedString(headerLength)
                    + " bytes is over the limit of " + MAX_HEADER_BYTES + " bytes (not a safetensors file?)");
        }
        if (fileLength >= 0 && 8 + headerLength > fileLength) {
            throw new FormatException(source, "header length " + headerLength + " bytes runs past the end of the file ("
                    + fileLength + " bytes)");
        }
        byte[] headerBytes = new byte[(int) headerLength];
        got = readUpTo(in, headerBytes, 0, headerBytes.length);
        if (got < headerBytes.length) {
            throw new FormatException(source, "header length " + headerLength + " bytes runs past the end of the file ("
                    + (8 + got) + " bytes)");
        }
        String headerText;
        try {
            headerText = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(headerBytes)).toString();
        } catch (CharacterCodingException e) {
            throw new FormatException(source, "header is not valid UTF-8 text", e);
        }
        Object root = Json.parse(headerText, source + " header");
        if (!(root instanceof Map<?, ?> header)) {
            throw new FormatException(source, "header must be a JSON object of tensor entries");
        }

        Map<String, String> metadata = new LinkedHashMap<>();
        List<Entry> entries = new ArrayList<>();
        for (Map.Entry<?, ?> e : header.entrySet()) {
            String name = (String) e.getKey();
            if (name.equals(METADATA_KEY)) {
                metadata = parseMetadata(e.getValue(), source);
            } else {
                entries.add(parseEntry(name, e.getValue(), source));
            }
        }

        long dataLength = fileLength >= 0 ? fileLength - 8 - headerLength : -1;
        validateLayout(entries, dataLength, source);
        return new Reader(in, source, entries, metadata, dataLength);
    }

    private static Map<String, String> parseMetadata(Object value, String source) {
        if (!(value instanceof Map<?, ?> map)) {
            throw new FormatException(source, METADATA_KEY + " must be a JSON object of strings");
        }
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<?, ?> e : map.entrySet()) {
            if (!(e.getValue() instanceof String s)) {
                throw new FormatException(source, METADATA_KEY + " entry '" + e.getKey() + "' must be a string, got "
                        + Json.write(e.getValue()));
            }
            out.put((String) e.getKey(), s);
        }
        return out;
    }

    private static Entry parseEntry(String name, Object value, String source) {
        String where = "tensor '" + name + "'";
        if (!(value instanceof Map<?, ?> map)) {
            throw new FormatException(source, where + " must be a JSON object with dtype, shape and data_offsets");
        }
        Object dtypeValue = field(map, "dtype", where, source);
        if (!(dtypeValue instanceof String dtype)) {
            throw new FormatException(source, where + ": dtype must be a string, got " + Json.write(dtypeValue));
        }
        Integer elementBytes = DTYPE_BYTES.get(dtype);
        if (elementBytes == null) {
            throw new FormatException(source, where + ": unknown dtype '" + dtype + "', expected one of "
                    + new java.util.TreeSet<>(DTYPE_BYTES.keySet()));
        }
        long[] shape = longs(field(map, "shape", where, source), -1, where + ": shape", source);
        long[] offsets = longs(field(map, "data_offsets", where, source), 2, where + ": data_offsets", source);
        long begin = offsets[0];
        long end = offsets[1];
        if (end < begin) {
            throw new FormatException(source, where + ": data_offsets [" + begin + ", " + end + "] end before they begin");
        }
        long numel = 1;
        try {
            for (long d : shape) {
                numel = Math.multiplyExact(numel, d);
            }
            if (Math.multiplyExact(numel, (long) elementBytes) != end - begin) {
                throw new FormatException(source, where + ": shape " + Arrays.toString(shape) + " of " + dtype + " needs "
                        + numel * elementBytes + " bytes but data_offsets [" + begin + ", " + end + "] span "
                        + (end - begin));
            }
        } catch (ArithmeticException overflow) {
            throw new FormatException(source, where + ": shape " + Arrays.toString(shape) + " is too large");
        }
        if (numel > MAX_ARRAY) {
            throw new FormatException(source, where + " has " + numel + " elements, more than one Java array holds");
        }
        return new Entry(name, dtype, shape, begin, end);
    }

    private static Object field(Map<?, ?> map, String key, String where, String source) {
        if (!map.containsKey(key)) {
            throw new FormatException(source, where + ": missing field '" + key + "'");
        }
        return map.get(key);
    }

    /** A JSON array of non-negative integers; {@code length} -1 means any length. */
    private static long[] longs(Object value, int length, String what, String source) {
        if (value instanceof List<?> list && (length < 0 || list.size() == length)) {
            long[] out = new long[list.size()];
            for (int i = 0; i < out.length; i++) {
                if (!(list.get(i) instanceof Long l) || l < 0) {
                    out = null;
                    break;
                }
                out[i] = l;
            }
            if (out != null) {
                return out;
            }
        }
        throw new FormatException(source, what + " must be an array of "
                + (length < 0 ? "" : length + " ") + "non-negative integers, got " + Json.write(value));
    }

    /**
     * Sorts {@code entries} by offset and checks they tile [0, dataLength) exactly. With an
     * unknown length only the tiling from 0 is checked here; the end is checked while reading.
     */
    private static void validateLayout(List<Entry> entries, long dataLength, String source) {
        if (dataLength >= 0) {
            for (Entry e : entries) {
                if (e.end() > dataLength) {
                    throw new FormatException(source, "tensor '" + e.name() + "' data_offsets [" + e.begin() + ", "
                            + e.end() + "] run past the end of the data section (" + dataLength + " bytes)");
                }
            }
        }
        entries.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        long covered = 0;
        Entry previous = null;
        for (Entry e : entries) {
            if (e.begin() < covered) {
                throw new FormatException(source, "tensor '" + e.name() + "' data_offsets [" + e.begin() + ", " + e.end()
                        + "] overlap tensor '" + previous.name() + "' [" + previous.begin() + ", " + previous.end() + "]");
            }
            if (e.begin() > covered) {
                throw new FormatException(source, "data bytes [" + covered + ", " + e.begin()
                        + ") belong to no tensor (gap before '" + e.name() + "'); tensors must cover the data exactly");
            }
            covered = e.end();
            previous = e;
        }
        if (dataLength >= 0 && covered != dataLength) {
            throw new FormatException(source, "data section is " + dataLength + " bytes but the tensors cover only "
                    + covered + "; tensors must cover the data exactly");
        }
    }

    /** Reads one tensor's bytes from {@code in} and decodes them to its own Java array. */
    private static Object decode(InputStream in, Entry e, byte[] chunk, String source) throws IOException {
        long n = e.end() - e.begin(); // bytes; the element count is at most MAX_ARRAY (parseEntry)
        switch (e.dtype()) {
            case "F32": {
                float[] out = new float[(int) (n / 4)];
                decodeF32(in, n, out, 0, chunk);
                return out;
            }
            case "I32": {
                int[] out = new int[(int) (n / 4)];
                for (long done = 0; done < n; ) {
                    int len = (int) Math.min(chunk.length, n - done);
                    readFully(in, chunk, len);
                    ByteBuffer.wrap(chunk, 0, len).order(ByteOrder.LITTLE_ENDIAN).asIntBuffer().get(out, (int) (done / 4), len / 4);
                    done += len;
                }
                return out;
            }
            case "I64": {
                long[] out = new long[(int) (n / 8)];
                for (long done = 0; done < n; ) {
                    int len = (int) Math.min(chunk.length, n - done);
                    readFully(in, chunk, len);
                    ByteBuffer.wrap(chunk, 0, len).order(ByteOrder.LITTLE_ENDIAN).asLongBuffer().get(out, (int) (done / 8), len / 8);
                    done += len;
                }
                return out;
            }
            default: {
                if (n > MAX_ARRAY) {
                    throw new FormatException(source, "tensor '" + e.name() + "' is " + n + " bytes of " + e.dtype()
                            + ", more than one Java array holds");
                }
                byte[] out = new byte[(int) n];
                readFully(in, out, out.length);
                return out;
            }
        }
    }

    /** Decodes {@code bytes} bytes of little-endian F32 from {@code in} into out[offset, offset + bytes / 4). */
    private static void decodeF32(InputStream in, long bytes, float[] out, int offset, byte[] chunk) throws IOException {
        for (long done = 0; done < bytes; ) {
            int len = (int) Math.min(chunk.length, bytes - done);
            readFully(in, chunk, len);
            ByteBuffer.wrap(chunk, 0, len).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out, offset + (int) (done / 4), len / 4);
            done += len;
        }
    }

    /**
     * Reads past {@code bytes} bytes. Read rather than {@link InputStream#skip}, which on a file may
     * move past its end without saying so: a truncated file must still be reported.
     */
    private static void discard(InputStream in, long bytes, byte[] chunk) throws IOException {
        for (long done = 0; done < bytes; ) {
            int len = (int) Math.min(chunk.length, bytes - done);
            readFully(in, chunk, len);
            done += len;
        }
    }

    private static void readFully(InputStream in, byte[] buf, int len) throws IOException {
        if (readUpTo(in, buf, 0, len) < len) {
            throw new EOFException();
        }
    }

    /** Reads until {@code len} bytes or the end of the stream; returns how many were read. */
    private static int readUpTo(InputStream in, byte[] buf, int off, int len) throws IOException {
        int total = 0;
        while (total < len) {
            int r = in.read(buf, off + total, len - total);
            if (r < 0) {
                break;
            }
            total += r;
        }
        return total;
    }

    // ---------------------------------------------------------------- writing

    /**
     * Writes F32 tensors in the iteration order of {@code data}; {@code shapes} must hold a shape
     * for each. {@code metadata} may be empty; checkpoints conventionally carry
     * {@code {"format": "pt"}}.
     */
    public static void write(OutputStream out, LinkedHashMap<String, float[]> data, Map<String, long[]> shapes,
                             Map<String, String> metadata) throws IOException {
        Writer w = new Writer();
        metadata.forEach(w::metadata);
        for (Map.Entry<String, float[]> e : data.entrySet()) {
            long[] shape = shapes.get(e.getKey());
            if (shape == null) {
                throw new IllegalArgumentException("no shape given for tensor '" + e.getKey() + "'");
            }
            w.f32(e.getKey(), e.getValue(), shape);
        }
        w.writeTo(out);
    }

    /** Collects tensors, then writes them in the order added. The arrays are not copied. */
    /**
     * Each tensor's first byte in the data section, for tensors of the given byte sizes stored in
     * order: longs, since a file (GPT-2 XL's weights: 6.2 GB) may pass 2^31 bytes.
     */
    public static long[] dataOffsets(long[] byteSizes) {
        long[] out = new long[byteSizes.length];
        long at = 0;
        for (int i = 0; i < byteSizes.length; i++) {
            out[i] = at;
            at = Math.addExact(at, byteSizes[i]);
        }
        return out;
    }

    public static final class Writer {
        private final LinkedHashMap<String, Object> data = new LinkedHashMap<>();
        private final LinkedHashMap<String, long[]> shapes = new LinkedHashMap<>();
        private final LinkedHashMap<String, String> metadata = new LinkedHashMap<>();

        public Writer metadata(String key, String value) {
            metadata.put(key, value);
            return this;
        }

        public Writer f32(String name, float[] values, long... shape) {
            return add(name, values, values.length, shape);
        }

        public Writer i32(String name, int[] values, long... shape) {
            return add(name, values, values.length, shape);
        }

        /**
         * values[offset, offset + length) as an F32 tensor, written from the array itself: a checkpoint
         * of a flat parameter buffer makes no copy of it (GPT-2 XL's weights and moments are 3 x 6.2 GB).
         */
        public Writer f32Slice(String name, float[] values, int offset, int length, long... shape) {
            if (offset < 0 || length < 0 || (long) offset + length > values.length) {
                throw new IllegalArgumentException("tensor '" + name + "': [" + offset + ", " + ((long) offset + length)
                        + ") is outside an array of " + values.length);
            }
            return add(name, new Slice(values, offset, length), length, shape);
        }

        private record Slice(float[] array, int offset, int length) {}

        private Writer add(String name, Object values, int length, long[] shape) {
            if (name.equals(METADATA_KEY) || data.containsKey(name)) {
                throw new IllegalArgumentException("tensor name '" + name + "' is reserved or already added");
            }
            long numel = 1;
            for (long d : shape) {
                if (d < 0) {
                    throw new IllegalArgumentException("tensor '" + name + "' has a negative dimension in " + Arrays.toString(shape));
                }
                numel *= d;
            }
            if (numel != length) {
                throw new IllegalArgumentException("tensor '" + name + "' has " + length + " values but shape "
                        + Arrays.toString(shape) + " needs " + numel);
            }
            data.put(name, values);
            shapes.put(name, shape.clone());
            return this;
        }

        /** The header: JSON padded with spaces to a multiple of 8 so the data is 8-aligned. */
        private byte[] header() {
            LinkedHashMap<String, Object> header = new LinkedHashMap<>();
            if (!metadata.isEmpty()) {
                header.put(METADATA_KEY, metadata);
            }
            long[] sizes = new long[data.size()];
            int i = 0;
            for (Object v : data.values()) {
                sizes[i++] = 4L * (v instanceof float[] f ? f.length : v instanceof Slice sl ? sl.length() : ((int[]) v).length);
            }
            long[] offsets = dataOffsets(sizes);
            i = 0;
            for (Map.Entry<String, Object> e : data.entrySet()) {
                boolean isFloat = !(e.getValue() instanceof int[]);
                long offset = offsets[i], bytes = sizes[i++];
                LinkedHashMap<String, Object> entry = new LinkedHashMap<>();
                entry.put("dtype", isFloat ? "F32" : "I32");
                List<Object> shape = new ArrayList<>();
                for (long d : shapes.get(e.getKey())) {
                    shape.add(d);
                }
                entry.put("shape", shape);
                entry.put("data_offsets", List.of(offset, offset + bytes));
                header.put(e.getKey(), entry);
            }
            StringBuilder json = new StringBuilder(Json.write(header));
            int utf8Length = StandardCharsets.UTF_8.encode(CharBuffer.wrap(json)).remaining();
            json.append(" ".repeat((8 - utf8Length % 8) % 8));
            return json.toString().getBytes(StandardCharsets.UTF_8);
        }

        /** Writes the file to {@code out} (not closed). */
        public void writeTo(OutputStream out) throws IOException {
            byte[] header = header();
            ByteBuffer buf = ByteBuffer.allocate(CHUNK).order(ByteOrder.LITTLE_ENDIAN);
            buf.putLong(header.length);
            out.write(buf.array(), 0, 8);
            out.write(header);
            for (Object values : data.values()) {
                if (values instanceof float[] || values instanceof Slice) {
                    Slice sl = values instanceof Slice x ? x : new Slice((float[]) values, 0, ((float[]) values).length);
                    float[] f = sl.array();
                    for (int i = sl.offset(), end = sl.offset() + sl.length(); i < end; ) {
                        int n = Math.min(CHUNK / 4, end - i);
                        buf.clear();
                        buf.asFloatBuffer().put(f, i, n);
                        out.write(buf.array(), 0, 4 * n);
                        i += n;
                    }
                } else {
                    int[] a = (int[]) values;
                    for (int i = 0; i < a.length; ) {
                        int n = Math.min(CHUNK / 4, a.length - i);
                        buf.clear();
                        buf.asIntBuffer().put(a, i, n);
                        out.write(buf.array(), 0, 4 * n);
                        i += n;
                    }
                }
            }
            out.flush();
        }

        /** The whole file in memory. */
        public byte[] toBytes() {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            try {
                writeTo(out);
            } catch (IOException e) {
                throw new AssertionError("ByteArrayOutputStream does not fail", e);
            }
            return out.toByteArray();
        }

        /**
         * Writes to a temporary file beside {@code path}, then renames it over {@code path}, so
         * a crash never leaves a half-written checkpoint under the real name.
         */
        public void writeTo(Path path) throws IOException {
            Path dir = path.toAbsolutePath().getParent();
            Path tmp = Files.createTempFile(dir, path.getFileName().toString() + ".", ".tmp");
            try {
                try (OutputStream out = new java.io.BufferedOutputStream(Files.newOutputStream(tmp), CHUNK)) {
                    writeTo(out);
                }
                try {
                    Files.move(tmp, path, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                } catch (AtomicMoveNotSupportedException e) {
                    Files.move(tmp, path, StandardCopyOption.REPLACE_EXISTING);
                }
            } finally {
                Files.deleteIfExists(tmp);
            }
        }
    }
}
