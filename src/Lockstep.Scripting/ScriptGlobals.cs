using Lockstep.Models;
using Lockstep.Models.Proposals;
using Lockstep.Models.Scenarios;

namespace Lockstep.Scripting;

/// <summary>
/// What a .csx script's top-level code sees: <c>Register(new Proposal(...))</c> and <c>Register(new Scenario(...))</c>
/// register into the registry the script is loaded into, and <c>RegisterWarning(kind, property)</c> maps a new check's kind.
/// </summary>
public sealed class ScriptGlobals(Registry registry)
{
    public void Register(Proposal proposal) => registry.Register(proposal);

    public void Register(Scenario scenario) => registry.Register(scenario);

    /// <summary>Maps the kind of a check the script's code reports to the properties it violates.</summary>
    public void RegisterWarning(string kind, params string[] properties) => registry.RegisterWarning(kind, properties);
}
