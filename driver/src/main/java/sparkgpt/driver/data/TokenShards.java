// llm.c's token shard format, read and written through the Hadoop FileSystem API (file://, hdfs://, s3a://).
package sparkgpt.driver.data;

import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.io.Serializable;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.CharBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import sparkgpt.driver.config.UserError;
import sparkgpt.worker.io.FormatException;
import sparkgpt.worker.io.Json;

/**
 * A shard is a header of 256 little-endian int32 (magic 20240520, version 1, token count, the rest 0)
 * followed by the tokens as little-endian uint16 (llm.c's dev/data/data_common.py). A split
 * ("train" or "val") is the files {@code SPLIT_*.bin} of a directory, concatenated in name order.
 */
public final class TokenShards {
    public static final int MAGIC = 20240520, VERSION = 1, HEADER_INTS = 256, HEADER_BYTES = HEADER_INTS * 4;

    private TokenShards() {}

    /** One shard file and its token count (from its header). */
    public record Shard(String path, long tokens) implements Serializable {}

    /** A split: its shards in order; token i of the split is found by walking the shard counts. */
    public record Split(String name, List<Shard> shards, long tokens) implements Serializable {}

    /** Writes one shard to path: a temporary name first, renamed when complete. */
    public static void write(FileSystem fs, Path path, char[] tokens, int from, int count) throws IOException {
        Path tmp = new Path(path.getParent(), "." + path.getName() + ".tmp");
        try (OutputStream out = fs.create(tmp, true)) {
            writeHeader(out, count);
            writeTokens(out, tokens, from, count);
        }
        fs.delete(path, false);
        if (!fs.rename(tmp, path)) throw new IOException("cannot rename " + tmp + " to " + path);
    }

    /** A shard's header, for count tokens. */
    static void writeHeader(OutputStream out, int count) throws IOException {
        ByteBuffer header = ByteBuffer.allocate(HEADER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        header.putInt(MAGIC).putInt(VERSION).putInt(count);
        out.write(header.array());
    }

    /** Tokens [from, from + count) as little-endian uint16, 1 MB at a time. */
    static void writeTokens(OutputStream out, char[] tokens, int from, int count) throws IOException {
        ByteBuffer body = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
        CharBuffer chars = body.asCharBuffer(); // a bulk put into the little-endian view: no loop per token
        for (int i = 0; i < count; ) {
            int n = Math.min(count - i, chars.capacity());
            chars.clear();
            chars.put(tokens, from + i, n);
            out.write(body.array(), 0, 2 * n);
            i += n;
        }
    }

    /** Writes tokens [first, first + count) of the shard at from as a shard at to, streamed (1 MB at a time). */
    static void copy(FileSystem fs, Path from, long first, int count, Path to) throws IOException {
        try (FSDataInputStream in = fs.open(from); OutputStream out = fs.create(to, true)) {
            writeHeader(out, count);
            in.seek(HEADER_BYTES + 2 * first);
            byte[] buf = new byte[1 << 20];
            for (long left = 2L * count; left > 0; ) {
                int n = (int) Math.min(buf.length, left);
                in.readFully(buf, 0, n);
                out.write(buf, 0, n);
                left -= n;
            }
        }
    }

    /** Reads and checks a shard's header; the message names the file and what was wrong. */
    public static Shard header(FileSystem fs, Path path) {
        try (FSDataInputStream in = fs.open(path)) {
            long length = fs.getFileStatus(path).getLen();
            byte[] h = new byte[HEADER_BYTES];
            try {
                in.readFully(h);
            } catch (EOFException e) {
                throw new UserError("token shard " + path + " is truncated: " + length + " bytes, shorter than the "
                        + HEADER_BYTES + "-byte llm.c header");
            }
            ByteBuffer b = ByteBuffer.wrap(h).order(ByteOrder.LITTLE_ENDIAN);
            int magic = b.getInt(), version = b.getInt(), count = b.getInt();
            if (magic != MAGIC) {
                throw new UserError("token shard " + path + " has magic " + magic + ", expected " + MAGIC
                        + " (llm.c's uint16 token format)");
            }
            if (version != VERSION) {
                throw new UserError("token shard " + path + " has version " + version + ", expected " + VERSION);
            }
            long expected = HEADER_BYTES + 2L * count;
            if (count < 0 || length != expected) {
                throw new UserError("token shard " + path + " is " + length + " bytes but its header says " + count
                        + " tokens (" + expected + " bytes): truncated or corrupt");
            }
            return new Shard(path.toString(), count);
        } catch (IOException e) {
            throw new UserError("cannot read token shard " + path + ": " + e.getMessage(), e);
        }
    }

    /** The shards {@code dir/SPLIT_*.bin} in name order, headers checked. */
    public static Split split(Configuration conf, String dir, String split) {
        try {
            Path d = new Path(dir);
            FileSystem fs = d.getFileSystem(conf);
            if (!fs.exists(d)) throw new UserError("data directory " + dir + " does not exist");
            FileStatus[] files = fs.globStatus(new Path(d, split + "_*.bin"));
            List<Shard> shards = new ArrayList<>();
            if (files != null) {
                Arrays.sort(files, (a, b) -> a.getPath().getName().compareTo(b.getPath().getName()));
                for (FileStatus f : files) shards.add(header(fs, f.getPath()));
            }
            long total = shards.stream().mapToLong(Shard::tokens).sum();
            return new Split(split, List.copyOf(shards), total);
        } catch (IOException e) {
            throw new UserError("cannot list " + dir + ": " + e.getMessage(), e);
        }
    }

    /**
     * Tokens [from, from+count) of the split; every id is checked against vocabSize so that a wrong
     * vocab_size fails with the file's name. Training reads its windows through a {@link ShardReader} it keeps.
     */
    public static char[] read(Configuration conf, Split split, long from, int count, int vocabSize) {
        char[] out = new char[count];
        try (ShardReader reader = new ShardReader(conf, split)) {
            reader.read(from, out, 0, count, vocabSize);
        }
        return out;
    }

    // ---- meta.json: written by prepare, read back by train ----

    /** What prepare records about a data directory. */
    public record Meta(String tokenizer, int vocabSize, long documents, long trainTokens, long valTokens) {
        String toJson() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("tokenizer", tokenizer);
            m.put("vocab_size", vocabSize);
            m.put("documents", documents);
            m.put("train_tokens", trainTokens);
            m.put("val_tokens", valTokens);
            m.put("format", "llm.c uint16 shards, magic " + MAGIC + " version " + VERSION);
            return Json.writeLines(m);
        }
    }

    public static void writeMeta(FileSystem fs, Path dir, Meta meta) throws IOException {
        Path path = new Path(dir, "meta.json"), tmp = new Path(dir, ".meta.json.tmp");
        try (OutputStream out = fs.create(tmp, true)) {
            out.write(meta.toJson().getBytes(StandardCharsets.UTF_8));
        }
        fs.delete(path, false);
        if (!fs.rename(tmp, path)) throw new IOException("cannot rename " + tmp + " to " + path);
    }

    /** The directory's meta.json, or null when it has none (plain llm.c shards). */
    public static Meta readMeta(Configuration conf, String dir) {
        Path path = new Path(dir, "meta.json");
        try {
            FileSystem fs = path.getFileSystem(conf);
            if (!fs.exists(path)) return null;
            String json;
            try (FSDataInputStream in = fs.open(path)) {
                json = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            }
            Object parsed;
            try {
                parsed = Json.parse(json, path.toString());
            } catch (FormatException e) {
                throw new UserError(e.getMessage(), e);
            }
            if (!(parsed instanceof Map<?, ?> m)) throw new UserError(path + ": expected a JSON object");
            return new Meta(jsonString(m, "tokenizer", path), Math.toIntExact(jsonLong(m, "vocab_size", path)),
                    jsonLong(m, "documents", path), jsonLong(m, "train_tokens", path), jsonLong(m, "val_tokens", path));
        } catch (IOException e) {
            throw new UserError("cannot read " + path + ": " + e.getMessage(), e);
        }
    }

    private static long jsonLong(Map<?, ?> json, String key, Path file) {
        if (!(json.get(key) instanceof Long v) || v < 0) throw new UserError(file + " has no integer field \"" + key + "\"");
        return v;
    }

    private static String jsonString(Map<?, ?> json, String key, Path file) {
        if (!(json.get(key) instanceof String v)) throw new UserError(file + " has no string field \"" + key + "\"");
        return v;
    }
}
