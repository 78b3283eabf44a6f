// Peak heap of reading a GPT-2 124M checkpoint, streamed (Checkpoint.readModel / load) against reading
// every tensor into its own array first (SafeTensors.read, then a copy per tensor). Run by hand, one
// read per JVM:
//   java -cp CP sparkgpt.driver.checkpoint.CheckpointReadBench write /tmp/ckpt124m
//   java -Xmx3g -cp CP sparkgpt.driver.checkpoint.CheckpointReadBench {streamed|inmemory} {model|load} /tmp/ckpt124m/step_000001
//   java -Xmx3g -cp CP sparkgpt.driver.checkpoint.CheckpointReadBench huge     (one F32 tensor of 2.4 GB, made up as it is read)
// or with -Xmx just above what the streamed read needs, where reading everything first runs out of memory.
package sparkgpt.driver.checkpoint;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import org.apache.hadoop.conf.Configuration;
import sparkgpt.worker.Gpt;
import sparkgpt.worker.GptConfig;
import sparkgpt.worker.ParameterLayout;
import sparkgpt.worker.io.HuggingFaceWeights;
import sparkgpt.worker.io.SafeTensors;
import sparkgpt.worker.optim.AdamW;

public final class CheckpointReadBench {
    private CheckpointReadBench() {}

    /** GPT-2 124M: 124,439,808 parameters, 498 MB per flat vector. */
    static final GptConfig GPT2 = new GptConfig(12, 12, 768, 1024, 50257, 1024);

    public static void main(String[] args) throws Exception {
        switch (args[0]) {
            case "write" -> write(Path.of(args[1]));
            case "huge" -> huge();
            default -> read(args[0], args[1], args[2]);
        }
    }

    static void write(Path out) {
        ParameterLayout layout = new ParameterLayout(GPT2);
        float[] params = Gpt.initialParameters(GPT2, 1);
        AdamW adamw = new AdamW(layout, new AdamW.Options(0.9f, 0.95f, 1e-8f, 0.1f));
        Random r = new Random(2);
        float[] m = new float[params.length], v = new float[params.length];
        for (int i = 0; i < params.length; i++) {
            m[i] = (float) (r.nextGaussian() * 1e-3);
            v[i] = (float) (r.nextFloat() * 1e-6);
        }
        adamw.restore(Map.of("exp_avg", m, "exp_avg_sq", v), 1);
        String dir = Checkpoint.write(new Configuration(), out.toString(), new Checkpoint.Model(GPT2, params, "gpt2"), adamw,
                new Checkpoint.State(1, "adamw", 1, Double.POSITIVE_INFINITY, 0, 1337, 1, 8, true, Map.of()), 0);
        System.out.println("wrote " + dir + ": " + params.length + " parameters");
    }

    static void read(String path, String what, String dir) throws Exception {
        ParameterLayout layout = new ParameterLayout(GPT2);
        long before = startPeak();
        long t0 = System.nanoTime();
        float[][] kept;
        if (path.equals("streamed")) {
            if (what.equals("model")) {
                kept = new float[][] {Checkpoint.readModel(new Configuration(), dir).params()};
            } else {
                Checkpoint.Loaded l = Checkpoint.load(new Configuration(), dir);
                kept = new float[][] {l.model().params(), l.optimizerState().get("exp_avg"), l.optimizerState().get("exp_avg_sq")};
            }
        } else {
            kept = inMemory(layout, what, Path.of(dir));
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        long peak = peak();
        long checksum = 0;
        for (float[] a : kept) {
            for (int i = 0; i < a.length; i += 4099) checksum += Float.floatToRawIntBits(a[i]);
        }
        long vectors = 4L * layout.size() * kept.length;
        System.out.printf(Locale.ROOT, "%s %s: peak heap %.0f MB (%.2fx the %.0f MB of the %d vector(s) kept; %.0f MB in use before),"
                        + " %.1f s, checksum %d, -Xmx %.0f MB%n", path, what, peak / 1e6, (double) (peak - before) / vectors,
                vectors / 1e6, kept.length, before / 1e6, seconds, checksum, Runtime.getRuntime().maxMemory() / 1e6);
    }

    /** What Checkpoint read before streaming: every tensor of the file into its own array, then a copy per tensor. */
    static float[][] inMemory(ParameterLayout layout, String what, Path dir) throws IOException {
        float[] params = new float[layout.size()];
        HuggingFaceWeights.load(readWhole(dir.resolve(Checkpoint.MODEL)), layout, params);
        if (what.equals("model")) return new float[][] {params};
        float[] m = new float[layout.size()], v = new float[layout.size()];
        SafeTensors opt = readWhole(dir.resolve(Checkpoint.OPTIMIZER));
        for (ParameterLayout.Tensor t : layout.tensors()) {
            long[] shape = Arrays.stream(t.shape()).asLongStream().toArray();
            System.arraycopy(opt.requireF32("exp_avg." + t.name(), shape), 0, m, t.offset(), t.size());
            System.arraycopy(opt.requireF32("exp_avg_sq." + t.name(), shape), 0, v, t.offset(), t.size());
        }
        return new float[][] {params, m, v};
    }

    /** As Checkpoint read it: through the Hadoop FileSystem, buffered, length unknown. */
    static SafeTensors readWhole(Path p) throws IOException {
        org.apache.hadoop.fs.Path hp = new org.apache.hadoop.fs.Path(p.toString());
        try (InputStream in = new BufferedInputStream(Checkpoint.fileSystem(new Configuration(), hp).open(hp), 1 << 20)) {
            return SafeTensors.read(in, hp.toString());
        }
    }

    /**
     * A 2.4 GB F32 tensor (600M elements: over 2^31 bytes) after a small one, streamed into a slice of
     * one float[]; element i holds i's bits pattern, so every value is checked.
     */
    static void huge() throws IOException {
        int n = 600_000_000;
        long bytes = 4L * n;
        String header = "{\"small\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"huge\":{\"dtype\":\"F32\",\"shape\":[" + n + "],\"data_offsets\":[8," + (8 + bytes) + "]}}";
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer head = ByteBuffer.allocate(8 + h.length + 8).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(h.length).put(h).putFloat(1f).putFloat(2f);
        InputStream in = new InputStream() {
            long at;
            final long length = head.capacity() + bytes;

            @Override
            public int read() {
                if (at >= length) return -1;
                throw new IllegalStateException("the data is read in chunks");
            }

            @Override
            public int read(byte[] b, int off, int len) {
                if (at >= length) return -1;
                int got = (int) Math.min(len, length - at);
                ByteBuffer out = ByteBuffer.wrap(b, off, got).order(ByteOrder.LITTLE_ENDIAN);
                for (long p = at; p < at + got; p++) {
                    if (p < head.capacity()) {
                        out.put(head.get((int) p));
                    } else if ((p - head.capacity()) % 4 == 0 && p + 4 <= at + got) {
                        out.putInt((int) ((p - head.capacity()) / 4)); // element index as the float's bits
                        p += 3;
                    } else {
                        throw new IllegalStateException("reads must be 4-aligned in the data");
                    }
                }
                at += got;
                return got;
            }
        };
        float[] all = new float[n + 3];
        long t0 = System.nanoTime();
        SafeTensors.open(in, "huge.safetensors").readInto(e -> SafeTensors.Target.into(all, e.name().equals("small") ? 0 : 3));
        for (int i = 0; i < n; i++) {
            if (Float.floatToRawIntBits(all[3 + i]) != i) throw new AssertionError("element " + i + " is wrong");
        }
        System.out.printf(Locale.ROOT, "huge: %d bytes (%.2fx 2^31) streamed into float[%d] at 3 in %.1f s, every element checked%n",
                bytes, bytes / Math.pow(2, 31), all.length, (System.nanoTime() - t0) / 1e9);
    }

    /** Heap in use after a full GC, with every heap pool's peak reset to it. */
    static long startPeak() {
        System.gc();
        long used = 0;
        for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans()) {
            if (p.getType() == MemoryType.HEAP) {
                p.resetPeakUsage();
                used += p.getUsage().getUsed();
            }
        }
        return used;
    }

    /** The sum of the heap pools' peaks (an upper bound on the peak of the heap as a whole). */
    static long peak() {
        long peak = 0;
        for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans()) {
            if (p.getType() == MemoryType.HEAP) peak += p.getPeakUsage().getUsed();
        }
        return peak;
    }
}
