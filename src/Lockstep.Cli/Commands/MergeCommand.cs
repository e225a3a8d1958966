using Lockstep.Reporting;

namespace Lockstep.Cli.Commands;

/// <summary>
/// lockstep merge SHARD.json..: the shards of one check (`check --shard I/N`) as one check: the same matrix, JSON, HTML,
/// SARIF and exit code as the check run in one process (the elapsed time aside: the longest shard's). The shards must be
/// all N of one check: the same options and model fingerprint, each index once; anything else is one line and exit 2.
/// </summary>
public static class MergeCommand
{
    private static readonly HashSet<string> Valued = new() { "json", "html", "sarif" };
    private static readonly HashSet<string> Flags = new() { "quiet", "verbose", "help" };

    public static int Run(string[] args)
    {
        var o = Options.Parse(args, Valued, Flags);
        if (o.Flag("help"))
        {
            Console.WriteLine("usage: lockstep merge SHARD.json.. [--json FILE|-] [--html FILE] [--sarif FILE] [--quiet | --verbose]\n"
                + "       (the files `lockstep check --shard I/N --json FILE` wrote, all N of them)");
            return 0;
        }
        if (o.Positional.Count == 0) throw new UsageException("merge needs the shards' files (lockstep check --shard I/N --json FILE)");
        if (o.Flag("quiet") && o.Flag("verbose")) throw new UsageException("--quiet and --verbose exclude each other");
        var shards = o.Positional.Select(ShardFile.Read).ToList();
        var first = shards[0];
        foreach (var s in shards.Skip(1))
        {
            if (s.Shard.Count != first.Shard.Count)
                throw new UsageException($"{s.Path} is shard {s.Shard} and {first.Path} shard {first.Shard}: not shards of one check");
            if (!s.Options.SequenceEqual(first.Options))
                throw new UsageException($"{s.Path} and {first.Path} are shards of checks with other options ({Describe(s.Options.Except(first.Options))} against {Describe(first.Options.Except(s.Options))})");
            if (s.Fingerprint != first.Fingerprint)
                throw new UsageException($"{s.Path} and {first.Path} were made by other models (fingerprints {s.Fingerprint} and {first.Fingerprint})");
        }
        var count = first.Shard.Count;
        foreach (var twice in shards.GroupBy(s => s.Shard.Index).Where(g => g.Count() > 1))
            throw new UsageException($"shard {twice.Key}/{count} is given twice ({string.Join(", ", twice.Select(s => s.Path))})");
        var missing = Enumerable.Range(0, count).Where(i => shards.All(s => s.Shard.Index != i)).ToList();
        if (missing.Count > 0)
            throw new UsageException($"shard{(missing.Count > 1 ? "s" : "")} {string.Join(", ", missing.Select(i => $"{i}/{count}"))} missing (given: {string.Join(", ", shards.Select(s => $"{s.Shard} {s.Path}"))})");

        var plan = CheckCommand.Plan.From(Options.Parse(first.Options, CheckCommand.Valued, CheckCommand.Flags));
        if (plan.Fingerprint != first.Fingerprint)
            throw new UsageException($"the shards were made by another model (fingerprint {first.Fingerprint}, this Lockstep {plan.Fingerprint}); merge them with the Lockstep that made them");
        var byJob = new Dictionary<string, (ShardFile File, ShardFile.RunJson Run)>();
        foreach (var s in shards)
        {
            var expected = plan.JobsOf(s.Shard).Select(j => ShardFile.JobName(j.Proposal.Id, j.Config.Name, j.Scenario.Id));
            if (!s.Jobs.SequenceEqual(expected)) throw new UsageException($"{s.Path}: its runs are not those of shard {s.Shard} of its check");
            foreach (var r in s.Runs) byJob[r.Job] = (s, r);
        }
        var runs = plan.Jobs.Select(j => ShardFile.Run(byJob[ShardFile.JobName(j.Proposal.Id, j.Config.Name, j.Scenario.Id)].Run, j.Proposal, j.Config, j.Scenario)).ToList();
        return CheckCommand.Report(plan, runs, shards.Max(s => s.Elapsed), CheckCommand.Output.From(o));
    }

    private static string Describe(IEnumerable<string> options) => options.Any() ? string.Join(" ", options) : "nothing";
}
