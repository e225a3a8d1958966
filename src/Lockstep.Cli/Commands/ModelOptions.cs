using Lockstep.Kernel;
using Lockstep.Models;
using Lockstep.Models.Proposals;
using Lockstep.Models.Scenarios;
using Lockstep.Scripting;

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
    public static Registry Load(Options o) => LoadUserFiles(o).Registry;

    public static ModelOptions Select(Options o)
    {
        var (registry, patches, worlds) = LoadUserFiles(o);
        var proposals = o.All("proposal").Count > 0 ? o.All("proposal").Select(registry.Proposal).ToList()
            : patches.Count > 0 ? patches.SelectMany(registry.ProposalsFrom).ToList()
            : registry.Proposals.ToList();
        var configs = o.All("config").Count > 0 ? o.All("config").Select(KernelConfig.Parse).ToList() : Suite.Configs.ToList();
        var scenarios = o.All("scenario").Count > 0 ? o.All("scenario").Select(registry.Scenario).ToList()
            : worlds.Count > 0 ? worlds.SelectMany(registry.ScenariosFrom).ToList()
            : registry.Scenarios.ToList();
        return new ModelOptions(registry, proposals, configs, scenarios);
    }

    /// <summary>The built-ins, then every --patch file, then every --world file; each must register what its option promises.</summary>
    private static (Registry Registry, List<Origin> Patches, List<Origin> Worlds) LoadUserFiles(Options o)
    {
        var registry = Registry.WithBuiltIns();
        var patches = o.All("patch").Select(path => LoadUserFile(registry, path, "proposal", "--patch", "Register(new Proposal(...))", registry.ProposalsFrom)).ToList();
        var worlds = o.All("world").Select(path => LoadUserFile(registry, path, "scenario", "--world", "Register(new Scenario(...))", registry.ScenariosFrom)).ToList();
        return (registry, patches, worlds);
    }

    private static Origin LoadUserFile<T>(Registry registry, string path, string what, string option, string call, Func<Origin, IEnumerable<T>> registeredFrom)
    {
        var origin = ExtensionLoader.Load(registry, path).Origin;
        if (!registeredFrom(origin).Any()) throw new ExtensionException($"{path} registers no {what} (a {option} file calls {call})");
        return origin;
    }
}
