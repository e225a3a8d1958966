using Lockstep.Kernel;
using Lockstep.Models.Proposals;
using Lockstep.Models.Scenarios;

namespace Lockstep.Models;

/// <summary>
/// What a check token names: "proposal/config/scenario/fingerprint/schedule". The fingerprint is the model's
/// (<see cref="Registry.Fingerprint"/>), so a token replays only against the code that made it.
/// </summary>
public sealed record CheckToken(string Proposal, string Config, string Scenario, string Fingerprint, string Schedule)
{
    public override string ToString() => $"{Proposal}/{Config}/{Scenario}/{Fingerprint}/{Schedule}";

    public static CheckToken For(Registry registry, Proposal proposal, KernelConfig config, Scenario scenario, string schedule)
        => new(proposal.Id, config.Name, scenario.Id, registry.Fingerprint(proposal, scenario), schedule);

    /// <exception cref="FormatException">Not of the form proposal/config/scenario/fingerprint/schedule.</exception>
    public static CheckToken Parse(string token)
    {
        var parts = token.Split('/', 5);
        if (parts.Length != 5 || parts.Any(p => p.Length == 0))
            throw new FormatException($"'{token}' is not a check token (expected proposal/config/scenario/fingerprint/schedule)");
        return new CheckToken(parts[0], parts[1], parts[2], parts[3], parts[4]);
    }

    /// <summary>The proposal, config and scenario it names, checked against the model <paramref name="registry"/> holds.</summary>
    /// <exception cref="ArgumentException">An unknown name, or a fingerprint of other code.</exception>
    public (Proposal Proposal, KernelConfig Config, Scenario Scenario) Resolve(Registry registry)
    {
        var proposal = registry.Proposals.FirstOrDefault(p => p.Id == Proposal)
            ?? throw new ArgumentException($"the token names proposal '{Proposal}', which is not loaded (a user patch? give the same --patch files)");
        var scenario = registry.Scenarios.FirstOrDefault(s => s.Id == Scenario)
            ?? throw new ArgumentException($"the token names scenario '{Scenario}', which is not loaded (a user world? give the same --world files)");
        var config = KernelConfig.Parse(Config);
        var fingerprint = registry.Fingerprint(proposal, scenario);
        if (fingerprint != Fingerprint)
            throw new ArgumentException($"the token was made by another model (fingerprint {Fingerprint}, this one is {fingerprint}: "
                + $"Lockstep {Registry.Version}, {registry.OriginOf(proposal)}, {registry.OriginOf(scenario)}); it cannot be replayed here");
        return (proposal, config, scenario);
    }
}
