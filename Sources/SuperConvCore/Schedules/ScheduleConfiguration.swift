/// Builds a schedule from a schedule spec. `policy` selects the policy and with it the keys that
/// are valid; defaults follow the paper's recipes (PC-LR multistep from 0.35 at 50k and 70k; CLR
/// 0.1-3 with stepsize 5000; range-test ramp to 3 over 5000 iterations).
public struct ScheduleConfiguration: Sendable {
    public let schedule: any Schedule
    public let spec: Spec

    public static let policies = ["fixed", "step", "multistep", "exp", "poly", "triangular", "triangular2", "exp_range",
                                  "onecycle", "onecycle_cosine", "sgdr", "linear_ramp", "exp_ramp"]

    /// What each key means, whichever policies take it (their defaults differ).
    private static let descriptions = [
        "policy": "fixed, step, multistep, exp, poly, triangular, triangular2, exp_range, onecycle (Smith's 1cycle, "
            + "linear), onecycle_cosine (PyTorch's OneCycleLR), sgdr, linear_ramp or exp_ramp",
        "base_lr": "base (lowest) learning rate; the start of a ramp",
        "max_lr": "peak learning rate of a cycle, the end of a ramp (the paper: 3 at batch 1000)",
        "momentum": "momentum in [0, 1); triangular, triangular2, exp_range, onecycle and onecycle_cosine also take "
            + "high,low, cycled against the learning rate",
        "stepsize": "iterations of a half cycle (step: between decays)",
        "stepsize_down": "iterations down in a triangular cycle (PyTorch CyclicLR's asymmetric cycle); 0: stepsize",
        "gamma": "decay factor: per decay (step, multistep) or per iteration (exp, exp_range)",
        "stepvalues": "multistep's decay iterations, increasing, comma-separated (the paper's PC-LR)",
        "power": "poly's exponent",
        "max_iter": "last iteration: poly and the ramps end there, onecycle's annihilation ends there (at least "
            + "2*stepsize), the triangular policies hold their value from there (0: cycle forever)",
        "annihilation": "onecycle's final learning rate as a fraction of base_lr",
        "total_steps": "onecycle_cosine's length in iterations",
        "pct_start": "onecycle_cosine's fraction of rising iterations",
        "div": "onecycle_cosine's initial learning rate is max_lr/div",
        "final_div": "onecycle_cosine's final learning rate is the initial one/final_div",
        "three_phase": "onecycle_cosine: 1 for three phases (fastai's old form), 0 for two",
        "anneal": "onecycle_cosine's annealing: cos or linear",
        "t0": "sgdr's first period in iterations",
        "t_mult": "sgdr's period growth factor",
        "eta_min": "sgdr's lowest learning rate",
        "warmup": "iterations of linear warm-up in front of the policy: the first N learning rates scaled by (it+1)/N",
    ]

    /// The keys `policy` takes, with its defaults.
    public static func schema(for policy: String) -> SpecSchema {
        var defaults = [("policy", policy)]
        switch policy {
        case "fixed":
            defaults += [("base_lr", "0.1"), ("momentum", "0.9")]
        case "step":
            defaults += [("base_lr", "0.1"), ("gamma", "0.1"), ("stepsize", "5000"), ("momentum", "0.9")]
        case "multistep":
            defaults += [("base_lr", "0.35"), ("gamma", "0.1"), ("stepvalues", "50000,70000"), ("momentum", "0.9")]
        case "exp":
            defaults += [("base_lr", "0.1"), ("gamma", "0.9999"), ("momentum", "0.9")]
        case "poly":
            defaults += [("base_lr", "0.1"), ("power", "1"), ("max_iter", "10000"), ("momentum", "0.9")]
        case "triangular", "triangular2", "exp_range":
            defaults += [("base_lr", "0.1"), ("max_lr", "3"), ("stepsize", "5000"), ("stepsize_down", "0"),
                         ("gamma", "0.99994"), ("max_iter", "0"), ("momentum", "0.9")]
        case "onecycle":
            defaults += [("base_lr", "0.1"), ("max_lr", "3"), ("stepsize", "5000"), ("max_iter", "11000"),
                         ("annihilation", "0.001"), ("momentum", "0.95,0.85")]
        case "onecycle_cosine":
            defaults += [("max_lr", "3"), ("total_steps", "10000"), ("pct_start", "0.3"), ("div", "25"),
                         ("final_div", "10000"), ("three_phase", "0"), ("anneal", "cos"), ("momentum", "0.95,0.85")]
        case "sgdr":
            defaults += [("base_lr", "0.1"), ("t0", "1000"), ("t_mult", "1"), ("eta_min", "0"), ("momentum", "0.9")]
        case "linear_ramp":
            defaults += [("base_lr", "0"), ("max_lr", "3"), ("max_iter", "5000"), ("momentum", "0.9")]
        default:  // exp_ramp
            defaults += [("base_lr", "1e-05"), ("max_lr", "10"), ("max_iter", "5000"), ("momentum", "0.9")]
        }
        defaults.append(("warmup", "0"))
        return SpecSchema(subject: "schedule (policy=\(policy))",
                          keys: defaults.map { SpecSchema.Key($0, $1, descriptions[$0] ?? "") })
    }

    public init(spec text: String) throws {
        var policy = "fixed"
        for token in text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" })
        where token.hasPrefix("policy=") {
            policy = String(token.dropFirst("policy=".count))
        }
        guard Self.policies.contains(policy) else {
            throw SuperConvError.invalidArgument(
                "schedule spec: policy=\(policy) is invalid: expected one of \(Self.policies.joined(separator: "|"))")
        }
        let spec = try Self.schema(for: policy).parse(text)
        self.spec = spec
        let schedule = try Self.make(policy, spec)
        let warmup = try spec.int("warmup", in: 0...Int(Int32.max))
        self.schedule = warmup > 0 ? WarmupSchedule(iterations: warmup, schedule: schedule) : schedule
    }

    private static let maxIterations = Int(Int32.max)

    private static func make(_ policy: String, _ spec: Spec) throws -> any Schedule {
        func rate(_ key: String) throws -> Double { try spec.double(key, in: 0...1e6) }
        func count(_ key: String, from lower: Int = 1) throws -> Int { try spec.int(key, in: lower...maxIterations) }
        func maxRate(above base: Double) throws -> Double {
            let value = try rate("max_lr")
            guard value >= base else { throw spec.invalid("max_lr", "expected at least base_lr=\(base)") }
            return value
        }
        func constantMomentum() throws -> Double {
            guard case .constant(let m) = try momentum() else {
                throw spec.invalid("momentum", "this policy takes a single momentum value")
            }
            return m
        }
        func momentum() throws -> MomentumPolicy {
            let parts = spec.string("momentum").split(separator: ",", omittingEmptySubsequences: false)
            let values = parts.compactMap { Double($0) }
            guard (1...2).contains(parts.count), values.count == parts.count,
                  values.allSatisfy({ $0 >= 0 && $0 < 1 }) else {
                throw spec.invalid("momentum", "expected m or high,low with each in [0, 1)")
            }
            return values.count == 1 ? .constant(values[0]) : .cyclical(high: values[0], low: values[1])
        }

        switch policy {
        case "fixed":
            return FixedSchedule(learningRate: try rate("base_lr"), momentum: try constantMomentum())
        case "step", "multistep", "exp", "poly":
            let rule: CaffeDecaySchedule.Rule
            switch policy {
            case "step": rule = .step(stepsize: try count("stepsize"))
            case "multistep":
                let parts = spec.string("stepvalues").split(separator: ",", omittingEmptySubsequences: false)
                let values = parts.compactMap { Int($0) }
                guard values.count == parts.count, values.allSatisfy({ $0 >= 1 }),
                      zip(values, values.dropFirst()).allSatisfy({ $0 < $1 }) else {
                    throw spec.invalid("stepvalues", "expected increasing positive iterations separated by commas")
                }
                rule = .multistep(stepvalues: values)
            case "exp": rule = .exponential
            default:
                rule = .polynomial(maxIterations: try count("max_iter"),
                                   power: try spec.double("power", in: 0...100))
            }
            let gamma = policy == "poly" ? 1 : try spec.double("gamma", in: 0...1e6, excludingLowerBound: true)
            return CaffeDecaySchedule(rule: rule, baseLearningRate: try rate("base_lr"), gamma: gamma,
                                      momentum: try constantMomentum())
        case "triangular", "triangular2", "exp_range":
            let base = try rate("base_lr")
            let up = try count("stepsize")
            let down = try count("stepsize_down", from: 0)
            return CyclicalSchedule(mode: CyclicalSchedule.Mode(rawValue: policy)!, baseLearningRate: base,
                                    maxLearningRate: try maxRate(above: base), stepsUp: up,
                                    stepsDown: down == 0 ? up : down,
                                    gamma: try spec.double("gamma", in: 0...1, excludingLowerBound: true),
                                    momentum: try momentum(), maxIterations: try count("max_iter", from: 0))
        case "onecycle":
            let base = try rate("base_lr")
            let stepsize = try count("stepsize")
            let maxIterations = try count("max_iter")
            guard maxIterations >= 2 * stepsize else {
                throw spec.invalid("max_iter", "expected at least 2*stepsize=\(2 * stepsize)")
            }
            return OneCycleSchedule(baseLearningRate: base, maxLearningRate: try maxRate(above: base),
                                    stepsize: stepsize, maxIterations: maxIterations,
                                    annihilation: try spec.double("annihilation", in: 0...1),
                                    momentum: try momentum())
        case "onecycle_cosine":
            let total = try count("total_steps", from: 2)
            let pct = try spec.double("pct_start", in: 0...1, excludingLowerBound: true)
            let threePhase = try spec.choice("three_phase", ["0", "1"]) == "1"
            // Each phase must span at least one iteration, as PyTorch requires.
            guard pct * Double(total) - 1 > 0, pct < 1,
                  !threePhase || (2 * pct * Double(total) - 2 > pct * Double(total) - 1 && 2 * pct * Double(total) - 2 < Double(total) - 1) else {
                throw spec.invalid("pct_start", "every phase needs at least one iteration with total_steps=\(total)")
            }
            return CosineOneCycleSchedule(maxLearningRate: try rate("max_lr"), totalSteps: total, percentStart: pct,
                                          divFactor: try spec.double("div", in: 0...1e12, excludingLowerBound: true),
                                          finalDivFactor: try spec.double("final_div", in: 0...1e12, excludingLowerBound: true),
                                          threePhase: threePhase,
                                          cosine: try spec.choice("anneal", ["cos", "linear"]) == "cos",
                                          momentum: try momentum())
        case "sgdr":
            let base = try rate("base_lr")
            let etaMin = try rate("eta_min")
            guard etaMin <= base else { throw spec.invalid("eta_min", "expected at most base_lr=\(base)") }
            return WarmRestartsSchedule(baseLearningRate: base, firstPeriod: try count("t0"),
                                        periodMultiplier: try spec.int("t_mult", in: 1...1000),
                                        minimumLearningRate: etaMin, momentum: try constantMomentum())
        default:  // linear_ramp, exp_ramp
            let exponential = policy == "exp_ramp"
            let base = try rate("base_lr")
            guard !exponential || base > 0 else { throw spec.invalid("base_lr", "an exponential ramp needs base_lr > 0") }
            return RampSchedule(exponential: exponential, baseLearningRate: base, maxLearningRate: try maxRate(above: base),
                                maxIterations: try count("max_iter"), momentum: try constantMomentum())
        }
    }
}
