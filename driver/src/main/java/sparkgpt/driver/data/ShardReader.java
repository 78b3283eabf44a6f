// Any token range of a split, read from its shards through streams opened once and kept open between reads.
package sparkgpt.driver.data;

import java.io.Closeable;
import java.io.IOException;
import java.util.Arrays;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.ChecksumFileSystem;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import sparkgpt.driver.config.UserError;

/**
 * Token i of the split lies in the shard whose range [starts[s], starts[s+1]) holds it; a range that
 * crosses shard boundaries is read piece by piece. A shard's stream opens on its first read. On HDFS
 * and object stores a read is a positioned read ({@code readFully(position, ...)}), which fetches
 * exactly the bytes asked for; a ChecksumFileSystem (file://) reopens the file and its .crc for every
 * positioned read, so there the stream seeks instead. Reads are serialized (one stream, one position).
 */
final class ShardReader implements Closeable {
    /** Bytes decoded at a time (the buffer a large read reuses). */
    private static final int CHUNK_BYTES = 1 << 20;

    private final Configuration conf;
    private final String split;
    private final List<TokenShards.Shard> shards;
    private final long[] starts;
    private final FSDataInputStream[] streams;
    private final boolean[] seek;
    private byte[] buf = new byte[0];

    ShardReader(Configuration conf, TokenShards.Split split) {
        this.conf = conf;
        this.split = split.name();
        this.shards = split.shards();
        this.starts = new long[shards.size() + 1];
        for (int s = 0; s < shards.size(); s++) starts[s + 1] = starts[s] + shards.get(s).tokens();
        this.streams = new FSDataInputStream[shards.size()];
        this.seek = new boolean[shards.size()];
    }

    /** The split's token count. */
    long tokens() {
        return starts[shards.size()];
    }

    /** Opens the streams of the shards that hold tokens [from, to): a shard an executor cannot read fails here. */
    synchronized void open(long from, long to) {
        for (int s = shard(from); s < shards.size() && starts[s] < to; s++) stream(s);
    }

    /**
     * Tokens [from, from+count) into out[offset..]; every id is checked against vocabSize so that a
     * wrong vocab_size fails with the file's name.
     */
    synchronized void read(long from, char[] out, int offset, int count, int vocabSize) {
        if (from < 0 || from + count > tokens()) {
            throw new UserError("the " + split + " split has " + tokens() + " tokens; cannot read [" + from + ", "
                    + (from + count) + ")");
        }
        long at = from;
        int filled = 0;
        for (int s = shard(from); filled < count; s++) {
            if (at >= starts[s + 1]) continue; // an empty shard
            Path path = new Path(shards.get(s).path());
            int n = (int) Math.min(count - filled, starts[s + 1] - at);
            long position = TokenShards.HEADER_BYTES + 2 * (at - starts[s]);
            try {
                FSDataInputStream in = stream(s);
                for (int done = 0; done < n; ) {
                    int k = Math.min(n - done, CHUNK_BYTES / 2);
                    if (buf.length < 2 * k) buf = new byte[2 * k];
                    if (seek[s]) {
                        in.seek(position);
                        in.readFully(buf, 0, 2 * k);
                    } else {
                        in.readFully(position, buf, 0, 2 * k);
                    }
                    for (int i = 0; i < k; i++) {
                        char t = (char) ((buf[2 * i] & 0xff) | (buf[2 * i + 1] & 0xff) << 8);
                        if (t >= vocabSize) {
                            throw new UserError("token shard " + path + " holds token id " + (int) t + ", not below vocab_size "
                                    + vocabSize);
                        }
                        out[offset + filled + done + i] = t;
                    }
                    done += k;
                    position += 2L * k;
                }
            } catch (IOException e) {
                throw new UserError("cannot read token shard " + path + ": " + e.getMessage(), e);
            }
            filled += n;
            at += n;
        }
    }

    /** The shard that holds token i (the last one whose range starts at or before i). */
    private int shard(long i) {
        int s = Arrays.binarySearch(starts, 0, shards.size(), i);
        if (s < 0) return Math.max(0, -s - 2);
        while (s + 1 < shards.size() && starts[s + 1] == i) s++; // empty shards start where the next one does
        return s;
    }

    private FSDataInputStream stream(int s) {
        if (streams[s] == null) {
            Path path = new Path(shards.get(s).path());
            try {
                FileSystem fs = path.getFileSystem(conf);
                streams[s] = fs.open(path);
                seek[s] = fs instanceof ChecksumFileSystem;
            } catch (IOException e) {
                throw new UserError("cannot read token shard " + path + ": " + e.getMessage(), e);
            }
        }
        return streams[s];
    }

    @Override
    public synchronized void close() {
        for (int s = 0; s < streams.length; s++) {
            if (streams[s] == null) continue;
            try {
                streams[s].close();
            } catch (IOException ignored) {
                // a read-only stream: nothing was left unwritten
            }
            streams[s] = null;
        }
    }
}
