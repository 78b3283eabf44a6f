// The keys of `sparkgpt train`, in groups; each key's default and reason is declared in its group's record.
package sparkgpt.driver.config;

import java.io.Serializable;
import java.util.List;
import java.util.Map;

/** A train run's configuration, and every key it resolved, as a checkpoint's trainer_state.json records them. */
public record TrainConfig(ModelConfig model, OptimizerConfig optimizer, ScheduleConfig schedule, DataConfig data,
                          TransferConfig transfer, OutputConfig output, ClusterConfig cluster,
                          Map<String, String> resolved) implements Serializable {

    /** The groups in the order help and the resolved configuration list them. */
    public static final List<KeyGroup> GROUPS = List.of(
            new KeyGroup("data", DataConfig.KEYS),
            new KeyGroup("model", ModelConfig.KEYS),
            new KeyGroup("schedule", ScheduleConfig.KEYS),
            new KeyGroup("optimizer", OptimizerConfig.KEYS),
            new KeyGroup("output", OutputConfig.KEYS),
            new KeyGroup("cluster", ClusterConfig.KEYS),
            new KeyGroup("transfer", TransferConfig.KEYS));

    public static TrainConfig from(Settings s) {
        DataConfig data = DataConfig.from(s);
        ModelConfig model = ModelConfig.from(s);
        ScheduleConfig schedule = ScheduleConfig.from(s);
        OptimizerConfig optimizer = OptimizerConfig.from(s);
        OutputConfig output = OutputConfig.from(s);
        ClusterConfig cluster = ClusterConfig.from(s);
        TransferConfig transfer = TransferConfig.from(s);
        return new TrainConfig(model, optimizer, schedule, data, transfer, output, cluster, s.resolved());
    }
}
