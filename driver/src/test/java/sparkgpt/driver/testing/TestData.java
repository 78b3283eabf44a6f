// A small byte-level corpus written as llm.c shards, for the training tests.
package sparkgpt.driver.testing;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import sparkgpt.driver.config.Settings;
import sparkgpt.driver.config.TrainConfig;
import sparkgpt.driver.data.TokenShards;

public final class TestData {
    private TestData() {}

    public static final String TEXT = "The Commission has to report to the Parliament on this matter, and that is the point. "
            + "We in this House have said so before, and we say it again today. ";

    /** A train configuration from --key=value arguments, checked as Main checks them (unknown keys fail). */
    public static TrainConfig trainConfig(List<String> args) {
        Settings s = Settings.parse(args);
        TrainConfig c = TrainConfig.from(s);
        s.finish("train");
        return c;
    }

    /**
     * The tiny model most Spark tests train (2 layers, 32 channels, context 16, batch 6 in micro-batches of 2,
     * warmup 2, no periodic eval), on data into out, each run replacing the last; overrides come after, and win.
     */
    public static TrainConfig tinyModel(String data, Path out, String... overrides) {
        List<String> args = new ArrayList<>(List.of("--data=" + data, "--out_dir=" + out,
                "--overwrite=true", "--n_layer=2", "--n_head=2", "--n_embd=32", "--block_size=16", "--batch_size=6",
                "--micro_batch_size=2", "--learning_rate=3e-3", "--min_lr=3e-4", "--warmup_steps=2",
                "--eval_interval=0", "--eval_batches=2", "--seed=7"));
        args.addAll(List.of(overrides));
        return trainConfig(args);
    }

    /** TEXT repeated, as bytes: train and val shards and a meta.json in dir. */
    public static String bytes(Path dir, int trainTokens, int valTokens) throws Exception {
        FileSystem fs = FileSystem.getLocal(new Configuration());
        byte[] text = TEXT.getBytes(StandardCharsets.UTF_8);
        char[] t = new char[trainTokens + valTokens];
        for (int i = 0; i < t.length; i++) t[i] = (char) (text[i % text.length] & 0xff);
        org.apache.hadoop.fs.Path d = new org.apache.hadoop.fs.Path(dir.toUri());
        TokenShards.write(fs, new org.apache.hadoop.fs.Path(d, "train_000000.bin"), t, 0, trainTokens / 2);
        TokenShards.write(fs, new org.apache.hadoop.fs.Path(d, "train_000001.bin"), t, trainTokens / 2, trainTokens - trainTokens / 2);
        TokenShards.write(fs, new org.apache.hadoop.fs.Path(d, "val_000000.bin"), t, trainTokens, valTokens);
        TokenShards.writeMeta(fs, d, new TokenShards.Meta("byte", 256, 1, trainTokens, valTokens));
        return dir.toString();
    }
}
