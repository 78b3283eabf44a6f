// Reads llm.c's GPT-2 model files (gpt2_124M.bin style) into the flat parameter layout.
package sparkgpt.worker.io;

import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import sparkgpt.worker.GptConfig;
import sparkgpt.worker.ParameterLayout;

/**
 * The format llm.c's train_gpt2.py write_model produces: a header of 256 little-endian int32
 * (magic 20240326, version, maxT, V, L, NH, C, Vp), then the tensors as float32 in llm.c's
 * order (wte (Vp,C), wpe (maxT,C), then each kind for all layers: ln1w, ln1b, qkvw (3C,C), qkvb,
 * attprojw (C,C), attprojb, ln2w, ln2b, fcw (4C,C), fcb, fcprojw (C,4C), fcprojb; then lnfw,
 * lnfb). Matmul weights are nn.Linear's [out, in]; they are transposed into the Conv1D [in, out]
 * layout here. Version 3 is float32 with the vocabulary padded to Vp (the padding rows are
 * dropped); version 5 (bfloat16) is rejected with a message.
 */
public final class LlmcModelFile {
    private LlmcModelFile() {}

    public static final int MAGIC = 20240326;

    /** A loaded model: its shape (block_size = maxT) and parameters in {@link ParameterLayout} order. */
    public record Model(GptConfig config, float[] params) {}

    public static Model read(InputStream in, String source) throws IOException {
        DataInputStream data = new DataInputStream(in);
        byte[] headerBytes = new byte[256 * 4];
        try {
            data.readFully(headerBytes);
        } catch (EOFException e) {
            throw new FormatException(source, "shorter than the 1024-byte llm.c model header");
        }
        ByteBuffer h = ByteBuffer.wrap(headerBytes).order(ByteOrder.LITTLE_ENDIAN);
        int magic = h.getInt(0), version = h.getInt(4);
        if (magic != MAGIC) {
            throw new FormatException(source, "bad magic " + magic + ", expected " + MAGIC + " (an llm.c model file)");
        }
        if (version == 5) {
            throw new FormatException(source, "version 5 (bfloat16) is not supported, expected version 3 (float32); "
                    + "export the model with llm.c's float32 writer");
        }
        if (version != 3) {
            throw new FormatException(source, "unsupported version " + version + ", expected 3 (float32, padded vocabulary)");
        }
        int maxT = h.getInt(8), V = h.getInt(12), L = h.getInt(16), NH = h.getInt(20), C = h.getInt(24), Vp = h.getInt(28);
        if (Vp < V) throw new FormatException(source, "padded vocabulary " + Vp + " is smaller than vocab_size " + V);
        GptConfig config;
        try {
            config = new GptConfig(L, NH, C, maxT, V, maxT);
        } catch (IllegalArgumentException e) {
            throw new FormatException(source, "header describes an invalid model: " + e.getMessage());
        }
        ParameterLayout layout = new ParameterLayout(config);
        float[] params = new float[layout.size()];
        Reader r = new Reader(data, source);
        r.rows(params, layout.wte, V, C);
        r.skip((long) (Vp - V) * C);
        r.rows(params, layout.wpe, maxT, C);
        for (int l = 0; l < L; l++) r.rows(params, layout.ln1w[l], 1, C);
        for (int l = 0; l < L; l++) r.rows(params, layout.ln1b[l], 1, C);
        for (int l = 0; l < L; l++) r.transposed(params, layout.qkvw[l], 3 * C, C);
        for (int l = 0; l < L; l++) r.rows(params, layout.qkvb[l], 1, 3 * C);
        for (int l = 0; l < L; l++) r.transposed(params, layout.attprojw[l], C, C);
        for (int l = 0; l < L; l++) r.rows(params, layout.attprojb[l], 1, C);
        for (int l = 0; l < L; l++) r.rows(params, layout.ln2w[l], 1, C);
        for (int l = 0; l < L; l++) r.rows(params, layout.ln2b[l], 1, C);
        for (int l = 0; l < L; l++) r.transposed(params, layout.fcw[l], 4 * C, C);
        for (int l = 0; l < L; l++) r.rows(params, layout.fcb[l], 1, 4 * C);
        for (int l = 0; l < L; l++) r.transposed(params, layout.fcprojw[l], C, 4 * C);
        for (int l = 0; l < L; l++) r.rows(params, layout.fcprojb[l], 1, C);
        r.rows(params, layout.lnfw, 1, C);
        r.rows(params, layout.lnfb, 1, C);
        if (data.read() != -1) {
            throw new FormatException(source, "has bytes after the last tensor: the header's sizes (L=" + L + ", C=" + C
                    + ", Vp=" + Vp + ", maxT=" + maxT + ") do not describe this file");
        }
        return new Model(config, params);
    }

    /** Reads little-endian float32 rows through a small buffer. */
    private static final class Reader {
        private final DataInputStream in;
        private final String source;
        private final byte[] buf = new byte[1 << 16];

        Reader(DataInputStream in, String source) {
            this.in = in;
            this.source = source;
        }

        float[] next(int n) throws IOException {
            float[] out = new float[n];
            int done = 0;
            while (done < n) {
                int k = Math.min(n - done, buf.length / 4);
                try {
                    in.readFully(buf, 0, 4 * k);
                } catch (EOFException e) {
                    throw new FormatException(source, "truncated: the file ends inside the tensor data");
                }
                ByteBuffer.wrap(buf, 0, 4 * k).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out, done, k);
                done += k;
            }
            return out;
        }

        // a [rows, cols] tensor stored as is
        void rows(float[] dst, int off, int rows, int cols) throws IOException {
            for (int r = 0; r < rows; r++) System.arraycopy(next(cols), 0, dst, off + r * cols, cols);
        }

        // an nn.Linear weight [out, in] stored into Conv1D's [in, out]
        void transposed(float[] dst, int off, int out, int in) throws IOException {
            for (int o = 0; o < out; o++) {
                float[] row = next(in);
                for (int i = 0; i < in; i++) dst[off + i * out + o] = row[i];
            }
        }

        void skip(long floats) throws IOException {
            long bytes = floats * 4;
            while (bytes > 0) {
                int k = (int) Math.min(bytes, buf.length);
                try {
                    in.readFully(buf, 0, k);
                } catch (EOFException e) {
                    throw new FormatException(source, "truncated: the file ends inside the padded vocabulary");
                }
                bytes -= k;
            }
        }
    }
}
