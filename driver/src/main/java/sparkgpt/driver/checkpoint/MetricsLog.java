// out_dir/metrics.jsonl: one JSON line per step and per evaluation, through the Hadoop FileSystem API.
package sparkgpt.driver.checkpoint;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import sparkgpt.driver.config.UserError;
import sparkgpt.worker.io.FormatException;
import sparkgpt.worker.io.Json;

/**
 * A fresh run starts the file anew. A resumed run keeps the lines of steps up to its checkpoint's
 * and drops later ones (written after that checkpoint by the run that was interrupted, and about to
 * be written again), so the file reads as one uninterrupted run. The kept lines are written to a
 * temporary file renamed over the old one; new lines are then appended where the file system can
 * append (local, HDFS), else (s3a) the file is rewritten with them and completed at close.
 * Every line is flushed, so the file can be followed while training runs.
 */
public final class MetricsLog implements AutoCloseable {

    private final Path path;
    private final FSDataOutputStream out;

    /** keepUpTo: the resumed checkpoint's step, or -1 for a fresh file. */
    public static MetricsLog open(Configuration conf, String outDir, int keepUpTo) {
        Path path = new Path(outDir, "metrics.jsonl");
        try {
            FileSystem fs = Checkpoint.fileSystem(conf, path);
            fs.mkdirs(path.getParent());
            if (keepUpTo < 0 || !fs.exists(path)) {
                // deleted, then created: on HDFS a killed earlier attempt of this driver may still hold
                // the old file's lease, which blocks create(overwrite) but not delete
                fs.delete(path, false);
                return new MetricsLog(path, fs.create(path, true));
            }
            List<String> kept = new ArrayList<>();
            for (String line : Checkpoint.readText(fs, path).split("\n")) {
                long step = step(line, path);
                if (step >= 0 && step <= keepUpTo) kept.add(line);
            }
            byte[] text = kept.isEmpty() ? new byte[0] : (String.join("\n", kept) + "\n").getBytes(StandardCharsets.UTF_8);
            Path tmp = new Path(path.getParent(), ".metrics.jsonl.tmp");
            try (OutputStream o = fs.create(tmp, true)) {
                o.write(text);
            }
            fs.delete(path, false);
            if (!fs.rename(tmp, path)) throw new IOException("cannot rename " + tmp + " to " + path);
            FSDataOutputStream out;
            try {
                out = fs.append(path);
            } catch (UnsupportedOperationException | IOException e) {
                out = fs.create(path, true);
                out.write(text);
            }
            return new MetricsLog(path, out);
        } catch (IOException e) {
            throw new UserError("cannot write " + path + ": " + e.getMessage(), e);
        }
    }

    /** The highest step of out_dir/metrics.jsonl; -1 when there is no such file or it names no step. */
    static long lastStep(Configuration conf, String outDir) {
        Path path = new Path(outDir, "metrics.jsonl");
        try {
            FileSystem fs = Checkpoint.fileSystem(conf, path);
            if (!fs.exists(path)) return -1;
            long last = -1;
            for (String line : Checkpoint.readText(fs, path).split("\n")) last = Math.max(last, step(line, path));
            return last;
        } catch (IOException e) {
            throw new UserError("cannot read " + path + ": " + e.getMessage(), e);
        }
    }

    /** The "step" of one line; -1 for a blank line or one without a step. */
    static long step(String line, Path path) {
        if (line.isBlank()) return -1;
        Object json;
        try {
            json = Json.parse(line, path.toString());
        } catch (FormatException e) {
            throw new UserError(e.getMessage() + " (expected one JSON object a line)");
        }
        return json instanceof Map<?, ?> m && m.get("step") instanceof Long step ? step : -1;
    }

    private MetricsLog(Path path, FSDataOutputStream out) {
        this.path = path;
        this.out = out;
    }

    /** The record's values as one JSON line, flushed. */
    public void line(Map<String, Object> record) {
        try {
            out.write((Json.write(record) + "\n").getBytes(StandardCharsets.UTF_8));
            out.hflush();
        } catch (IOException e) {
            throw new UserError("cannot write " + path + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        try {
            out.close();
        } catch (IOException e) {
            throw new UserError("cannot write " + path + ": " + e.getMessage(), e);
        }
    }
}
