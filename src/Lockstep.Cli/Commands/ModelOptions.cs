using Lockstep.Kernel;
using Lockstep.Models;
using Lockstep.Models.Proposals;
using Lockstep.Models.Scenarios;

namespace Lockstep.Cli.Commands;

/// <summary>
/// The model a command runs: the registry (the built-in suite plus the user files of --patch and --world) and the
/// proposals, configs and scenarios selected from it. Without --proposal the user's patches are checked if any were
/// given, else every registered proposal; likewise --scenario and the user's worlds.
/// </summary>
public sealed record ModelOptions(Registry Registry, IReadOnlyList<Proposal> Proposals, IReadOnlyList<KernelConfig> Configs, IReadOnlyList<Scenario> Scenarios)
{
    public static readonly string[] Names = { "patch", "world" };

    /// <summary>Builds the registry from the built-ins and the user files the options name.</summary>
    public static Registry Load(Options o)
    {
        var registry = Registry.WithBuiltIns();
        return registry;
    }

    public static ModelOptions Select(Options o)
    {
        var registry = Load(o);
        var proposals = o.All("proposal").Count > 0 ? o.All("proposal").Select(registry.Proposal).ToList() : registry.Proposals.ToList();
        var configs = o.All("config").Count > 0 ? o.All("config").Select(KernelConfig.Parse).ToList() : Suite.Configs.ToList();
        var scenarios = o.All("scenario").Count > 0 ? o.All("scenario").Select(registry.Scenario).ToList() : registry.Scenarios.ToList();
        return new ModelOptions(registry, proposals, configs, scenarios);
    }
}
