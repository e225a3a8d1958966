using System.Text.RegularExpressions;
using Lockstep.Tests.Scripting;

namespace Lockstep.Tests.Reporting;

/// <summary>
/// `check --shard I/N` + `merge` against one `check` process on a small selection (two proposals, compared, both
/// configs, two scenarios: 8 runs): the same matrix and byte-identical JSON, timing aside, as between --jobs 1 and 2;
/// bad shards are refused with one line and exit 2.
/// </summary>
public sealed class ShardTests : CommandLineTest
{
    private static readonly string[] Selection = { "check", "--proposal", "mainline,atomic-count", "--scenario", "munmap-vs-fault,oom-reap-vs-fault" };

    private string File(string name) => Path.Combine(_directory, name);

    /// <summary>The JSON without its elapsed time, the matrix text without its last line (the cells' count and the time).</summary>
    private static string Timeless(string text) => Regex.Replace(text, @"""elapsed_seconds"": [0-9.]+|\d+ cells in [0-9.]+ s", "(time)");

    private (string Json, string Matrix) One(params string[] more)
    {
        var json = File($"one{string.Join("", more)}.json");
        var (exit, matrix, _) = Run(Selection.Concat(more).Concat(new[] { "--json", json }).ToArray());
        Assert.Equal(0, exit);
        return (System.IO.File.ReadAllText(json), matrix);
    }

    private string[] Shards(int count, params string[] more)
        => Enumerable.Range(0, count).Select(i =>
        {
            var file = File($"shard-{i}-of-{count}{string.Join("", more)}.json");
            var (exit, _, error) = Run(Selection.Concat(more).Concat(new[] { "--shard", $"{i}/{count}", "--json", file, "--jobs", $"{1 + i % 2}" }).ToArray());
            Assert.Equal(0, exit);
            Assert.Contains($"lockstep: wrote shard {i}/{count} (", error);
            return file;
        }).ToArray();

    [Fact]
    public void ShardsMergedAreTheCheckRunInOneProcess()
    {
        var (json, matrix) = One();
        Assert.Contains("atomic-count default", matrix);
        foreach (var count in new[] { 1, 2, 3 })
        {
            var merged = File($"merged-{count}.json");
            var (exit, text, _) = Run(new[] { "merge" }.Concat(Shards(count)).Concat(new[] { "--json", merged }).ToArray());
            Assert.Equal(0, exit);
            Assert.Equal(Timeless(matrix), Timeless(text));
            Assert.Equal(Timeless(json), Timeless(System.IO.File.ReadAllText(merged)));
        }
    }

    [Fact]
    public void JobsDoNotChangeTheResult()
    {
        var (serial, serialMatrix) = One("--jobs", "1");
        var (parallel, parallelMatrix) = One("--jobs", "2");
        Assert.Equal(Timeless(serial), Timeless(parallel));
        Assert.Equal(Timeless(serialMatrix), Timeless(parallelMatrix));
    }

    [Fact]
    public void TheMergeHasTheChecksExitCode()
    {
        var shards = Shards(2, "--fail-on", "any");
        Assert.Equal(1, Run(new[] { "merge", "--quiet" }.Concat(shards).ToArray()).Exit);   // mainline rt's S2
    }

    [Fact]
    public void BadShardsAreOneLineAndExitTwo()
    {
        var two = Shards(2);
        var three = Shards(3);
        var seed = Shards(2, "--seed", "2");
        var corrupt = File("corrupt.json");
        System.IO.File.WriteAllText(corrupt, System.IO.File.ReadAllText(two[1])[..200]);
        var plain = File("plain.json");
        Assert.Equal(0, Run(Selection.Concat(new[] { "--json", plain, "--quiet" }).ToArray()).Exit);
        void Refused(string message, params string[] files)
        {
            var (exit, output, error) = Run(new[] { "merge" }.Concat(files).ToArray());
            Assert.Equal((2, "", message), (exit, output, error.TrimEnd()));
        }
        Refused($"lockstep: shard 1/2 missing (given: 0/2 {two[0]})", two[0]);
        Refused($"lockstep: shard 0/2 is given twice ({two[0]}, {two[0]})", two[0], two[0], two[1]);
        Refused($"lockstep: {three[0]} is shard 0/3 and {two[0]} shard 0/2: not shards of one check", two[0], three[0]);
        Refused($"lockstep: {seed[1]} and {two[0]} are shards of checks with other options (--seed=2 against nothing)", two[0], seed[1]);
        Assert.StartsWith($"lockstep: {corrupt} is not the result of a lockstep check --shard: ", Run("merge", two[0], corrupt).Error);
        Assert.Equal(2, Run("merge", two[0], corrupt).Exit);
        Assert.StartsWith($"lockstep: {plain} is not the result of a lockstep check --shard: ", Run("merge", plain).Error);
        Refused($"lockstep: Could not find file '{File("nope.json")}'.", two[0], File("nope.json"));
    }

    [Theory]
    [InlineData("lockstep: --shard takes I/N or auto/N (N >= 1), not '1'", "--shard", "1", "--json", "x.json")]
    [InlineData("lockstep: --shard 2/2: the index must be 0..1, not '2'", "--shard", "2/2", "--json", "x.json")]
    [InlineData("lockstep: --shard writes its result to --json FILE (and no --html or --sarif: lockstep merge writes those)", "--shard", "0/2")]
    [InlineData("lockstep: --shard writes its result to --json FILE (and no --html or --sarif: lockstep merge writes those)", "--shard", "0/2", "--json", "-")]
    public void ABadShardOptionIsOneLineAndExitTwo(string message, params string[] args)
    {
        var (exit, _, error) = Run(Selection.Concat(args).ToArray());
        Assert.Equal((2, message), (exit, error.TrimEnd()));
    }

    [Fact]
    public void AutoTakesTheIndexFromKubernetesOrSlurm()
    {
        var saved = (Environment.GetEnvironmentVariable("JOB_COMPLETION_INDEX"), Environment.GetEnvironmentVariable("SLURM_ARRAY_TASK_ID"));
        try
        {
            Environment.SetEnvironmentVariable("JOB_COMPLETION_INDEX", null);
            Environment.SetEnvironmentVariable("SLURM_ARRAY_TASK_ID", null);
            var (exit, _, error) = Run(Selection.Concat(new[] { "--shard", "auto/2", "--json", File("a.json") }).ToArray());
            Assert.Equal((2, "lockstep: --shard auto/N takes the index from JOB_COMPLETION_INDEX (Kubernetes Indexed Job) or SLURM_ARRAY_TASK_ID (Slurm array), and neither is set"),
                (exit, error.TrimEnd()));
            foreach (var variable in new[] { "JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID" })
            {
                Environment.SetEnvironmentVariable(variable, "1");
                Assert.Contains("wrote shard 1/2 (4 of 8 runs)", Run(Selection.Concat(new[] { "--shard", "auto/2", "--json", File("a.json") }).ToArray()).Error);
                Environment.SetEnvironmentVariable(variable, null);
            }
        }
        finally
        {
            Environment.SetEnvironmentVariable("JOB_COMPLETION_INDEX", saved.Item1);
            Environment.SetEnvironmentVariable("SLURM_ARRAY_TASK_ID", saved.Item2);
        }
    }
}
