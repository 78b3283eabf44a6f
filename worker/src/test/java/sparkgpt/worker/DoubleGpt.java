// A straightforward double-precision GPT-2 forward pass over the same flat parameter layout,
// for finite-difference gradient checks. Independent of the kernels: plain loops, no reuse.
package sparkgpt.worker;

final class DoubleGpt {
    private DoubleGpt() {}

    /** Mean cross-entropy of B sequences of T tokens. */
    static double loss(double[] w, ParameterLayout p, int[] in, int[] tgt, int B, int T) {
        GptConfig cfg = p.config;
        int C = cfg.nEmbd(), NH = cfg.nHead(), hs = C / NH, V = cfg.vocabSize();
        double total = 0;
        for (int b = 0; b < B; b++) {
            double[][] x = new double[T][C];
            for (int t = 0; t < T; t++)
                for (int c = 0; c < C; c++)
                    x[t][c] = w[p.wte + in[b * T + t] * C + c] + w[p.wpe + t * C + c];
            for (int l = 0; l < cfg.nLayer(); l++) {
                double[][] h = layerNorm(x, w, p.ln1w[l], p.ln1b[l]);
                double[][] qkv = linear(h, w, p.qkvw[l], p.qkvb[l], C, 3 * C);
                double[][] y = new double[T][C];
                for (int head = 0; head < NH; head++) {
                    for (int t = 0; t < T; t++) {
                        double[] s = new double[t + 1];
                        double max = Double.NEGATIVE_INFINITY;
                        for (int t2 = 0; t2 <= t; t2++) {
                            double d = 0;
                            for (int i = 0; i < hs; i++) d += qkv[t][head * hs + i] * qkv[t2][C + head * hs + i];
                            s[t2] = d / Math.sqrt(hs);
                            max = Math.max(max, s[t2]);
                        }
                        double sum = 0;
                        for (int t2 = 0; t2 <= t; t2++) sum += s[t2] = Math.exp(s[t2] - max);
                        for (int t2 = 0; t2 <= t; t2++)
                            for (int i = 0; i < hs; i++)
                                y[t][head * hs + i] += s[t2] / sum * qkv[t2][2 * C + head * hs + i];
                    }
                }
                double[][] a = linear(y, w, p.attprojw[l], p.attprojb[l], C, C);
                for (int t = 0; t < T; t++) for (int c = 0; c < C; c++) x[t][c] += a[t][c];
                double[][] h2 = layerNorm(x, w, p.ln2w[l], p.ln2b[l]);
                double[][] f = linear(h2, w, p.fcw[l], p.fcb[l], C, 4 * C);
                for (double[] row : f)
                    for (int i = 0; i < row.length; i++) {
                        double u = row[i];
                        row[i] = 0.5 * u * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (u + 0.044715 * u * u * u)));
                    }
                double[][] m = linear(f, w, p.fcprojw[l], p.fcprojb[l], 4 * C, C);
                for (int t = 0; t < T; t++) for (int c = 0; c < C; c++) x[t][c] += m[t][c];
            }
            double[][] h = layerNorm(x, w, p.lnfw, p.lnfb);
            for (int t = 0; t < T; t++) {
                double[] logits = new double[V];
                double max = Double.NEGATIVE_INFINITY;
                for (int v = 0; v < V; v++) {
                    double d = 0;
                    for (int c = 0; c < C; c++) d += h[t][c] * w[p.wte + v * C + c];
                    logits[v] = d;
                    max = Math.max(max, d);
                }
                double sum = 0;
                for (int v = 0; v < V; v++) sum += Math.exp(logits[v] - max);
                total += Math.log(sum) + max - logits[tgt[b * T + t]];
            }
        }
        return total / (B * T);
    }

    private static double[][] layerNorm(double[][] x, double[] w, int wOff, int bOff) {
        int C = x[0].length;
        double[][] out = new double[x.length][C];
        for (int t = 0; t < x.length; t++) {
            double mean = 0, var = 0;
            for (double v : x[t]) mean += v;
            mean /= C;
            for (double v : x[t]) var += (v - mean) * (v - mean);
            var /= C;
            double rstd = 1 / Math.sqrt(var + 1e-5);
            for (int c = 0; c < C; c++) out[t][c] = (x[t][c] - mean) * rstd * w[wOff + c] + w[bOff + c];
        }
        return out;
    }

    // x (T,in) . W [in,out] + b
    private static double[][] linear(double[][] x, double[] w, int wOff, int bOff, int in, int out) {
        double[][] y = new double[x.length][out];
        for (int t = 0; t < x.length; t++)
            for (int o = 0; o < out; o++) {
                double d = w[bOff + o];
                for (int i = 0; i < in; i++) d += x[t][i] * w[wOff + i * out + o];
                y[t][o] = d;
            }
        return y;
    }
}
