// Metrics registry and Prometheus text exposition (format 0.0.4): counters, gauges and histograms
// with labels. Hot paths bind label values once (`counter.bind({...})`) and then only add numbers.

export type Labels = Readonly<Record<string, string | number>>;

export interface MetricOptions {
  name: string;
  help: string;
  labelNames?: readonly string[];
}

export interface HistogramOptions extends MetricOptions {
  /** Upper bounds, ascending; +Inf is implicit. */
  buckets?: readonly number[];
}

const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Default latency buckets in seconds (1 ms .. 30 s). */
export const DEFAULT_SECONDS_BUCKETS: readonly number[] = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];

function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function escapeHelp(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatNumber(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

abstract class Metric {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];

  constructor(options: MetricOptions) {
    if (!NAME_RE.test(options.name)) throw new TypeError(`invalid metric name: ${options.name}`);
    for (const label of options.labelNames ?? []) {
      if (!LABEL_RE.test(label) || label.startsWith('__')) throw new TypeError(`invalid label name: ${label}`);
    }
    this.name = options.name;
    this.help = options.help;
    this.labelNames = Object.freeze([...(options.labelNames ?? [])]);
  }

  /** The rendered `{a="1",b="2"}` for a label set, checked against the declared label names. */
  protected labelKey(labels: Labels | undefined): string {
    if (this.labelNames.length === 0) {
      if (labels && Object.keys(labels).length > 0) throw new TypeError(`${this.name} has no labels`);
      return '';
    }
    if (!labels) throw new TypeError(`${this.name} needs labels ${this.labelNames.join(', ')}`);
    let out = '{';
    for (let i = 0; i < this.labelNames.length; i++) {
      const name = this.labelNames[i]!;
      const value = labels[name];
      if (value === undefined) throw new TypeError(`${this.name}: missing label ${name}`);
      out += `${i === 0 ? '' : ','}${name}="${escapeLabelValue(String(value))}"`;
    }
    return out + '}';
  }

  abstract expose(): string;

  protected header(type: string): string {
    return `# HELP ${this.name} ${escapeHelp(this.help)}\n# TYPE ${this.name} ${type}\n`;
  }
}

/** A bound counter or gauge cell: the hot-path handle. */
export interface ValueCell {
  value: number;
}

/** Shared storage and exposition of the single-value metrics (counters and gauges). */
abstract class ValueMetric extends Metric {
  protected readonly cells = new Map<string, ValueCell>();

  protected cell(key: string): ValueCell {
    let cell = this.cells.get(key);
    if (cell === undefined) {
      cell = { value: 0 };
      this.cells.set(key, cell);
    }
    return cell;
  }

  get(labels?: Labels): number {
    return this.cells.get(this.labelKey(labels))?.value ?? 0;
  }

  protected exposeValues(type: 'counter' | 'gauge'): string {
    let out = this.header(type);
    if (this.cells.size === 0 && this.labelNames.length === 0) out += `${this.name} 0\n`;
    for (const [key, cell] of this.cells) out += `${this.name}${key} ${formatNumber(cell.value)}\n`;
    return out;
  }
}

export class Counter extends ValueMetric {

  /** Returns the cell for these labels; keep it and call `inc` on it per event. */
  bind(labels?: Labels): BoundCounter {
    return new BoundCounter(this.cell(this.labelKey(labels)));
  }

  inc(labels?: Labels, amount = 1): void {
    if (amount < 0) throw new RangeError(`${this.name}: counters only go up`);
    this.cell(this.labelKey(labels)).value += amount;
  }

  expose(): string {
    return this.exposeValues('counter');
  }
}

export class BoundCounter {
  constructor(private readonly cell: ValueCell) {}
  inc(amount = 1): void {
    this.cell.value += amount;
  }
  get value(): number {
    return this.cell.value;
  }
}

export class Gauge extends ValueMetric {
  #collect: (() => void) | undefined;

  /** A function run before each exposition, to set values that are sampled rather than tracked. */
  onCollect(fn: () => void): this {
    this.#collect = fn;
    return this;
  }

  set(labels: Labels | undefined, value: number): void {
    this.cell(this.labelKey(labels)).value = value;
  }

  inc(labels?: Labels, amount = 1): void {
    this.cell(this.labelKey(labels)).value += amount;
  }

  dec(labels?: Labels, amount = 1): void {
    this.cell(this.labelKey(labels)).value -= amount;
  }

  /** Forgets one label set (e.g. a proxy that disconnected). */
  remove(labels: Labels): void {
    this.cells.delete(this.labelKey(labels));
  }

  expose(): string {
    this.#collect?.();
    return this.exposeValues('gauge');
  }
}

class HistogramCell {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(size: number) {
    this.counts = new Float64Array(size);
  }
}

export class Histogram extends Metric {
  readonly buckets: readonly number[];
  readonly #cells = new Map<string, HistogramCell>();

  constructor(options: HistogramOptions) {
    super(options);
    const buckets = [...(options.buckets ?? DEFAULT_SECONDS_BUCKETS)];
    for (let i = 1; i < buckets.length; i++) {
      if (!(buckets[i]! > buckets[i - 1]!)) throw new TypeError(`${options.name}: buckets must ascend`);
    }
    if (this.labelNames.includes('le')) throw new TypeError(`${options.name}: "le" is reserved`);
    this.buckets = Object.freeze(buckets);
  }

  bind(labels?: Labels): BoundHistogram {
    return new BoundHistogram(this.#cell(this.labelKey(labels)), this.buckets);
  }

  observe(labels: Labels | undefined, value: number): void {
    observeInto(this.#cell(this.labelKey(labels)), this.buckets, value);
  }

  /** Count and sum for a label set (tests, CLI summaries). */
  snapshot(labels?: Labels): { count: number; sum: number; buckets: Array<[number, number]> } {
    const cell = this.#cells.get(this.labelKey(labels));
    if (!cell) return { count: 0, sum: 0, buckets: this.buckets.map((b) => [b, 0]) };
    let cumulative = 0;
    return {
      count: cell.count,
      sum: cell.sum,
      buckets: this.buckets.map((b, i) => [b, (cumulative += cell.counts[i]!)]),
    };
  }

  #cell(key: string): HistogramCell {
    let cell = this.#cells.get(key);
    if (cell === undefined) {
      cell = new HistogramCell(this.buckets.length);
      this.#cells.set(key, cell);
    }
    return cell;
  }

  expose(): string {
    let out = this.header('histogram');
    for (const [key, cell] of this.#cells) {
      const inner = key === '' ? '' : key.slice(1, -1) + ',';
      let cumulative = 0;
      for (let i = 0; i < this.buckets.length; i++) {
        cumulative += cell.counts[i]!;
        out += `${this.name}_bucket{${inner}le="${formatNumber(this.buckets[i]!)}"} ${cumulative}\n`;
      }
      out += `${this.name}_bucket{${inner}le="+Inf"} ${cell.count}\n`;
      out += `${this.name}_sum${key} ${formatNumber(cell.sum)}\n`;
      out += `${this.name}_count${key} ${cell.count}\n`;
    }
    return out;
  }
}

function observeInto(cell: HistogramCell, buckets: readonly number[], value: number): void {
  cell.sum += value;
  cell.count++;
  for (let i = 0; i < buckets.length; i++) {
    if (value <= buckets[i]!) {
      cell.counts[i]!++;
      return;
    }
  }
}

export class BoundHistogram {
  constructor(
    private readonly cell: HistogramCell,
    private readonly buckets: readonly number[],
  ) {}
  observe(value: number): void {
    observeInto(this.cell, this.buckets, value);
  }
}

/** A set of metrics exposed together; each process (proxy, control plane) owns one. */
export class MetricsRegistry {
  readonly #metrics = new Map<string, Metric>();

  counter(options: MetricOptions): Counter {
    return this.#register(options.name, () => new Counter(options), Counter);
  }

  gauge(options: MetricOptions): Gauge {
    return this.#register(options.name, () => new Gauge(options), Gauge);
  }

  histogram(options: HistogramOptions): Histogram {
    return this.#register(options.name, () => new Histogram(options), Histogram);
  }

  /** Registering the same name twice returns the first metric if the type matches, else throws. */
  #register<M extends Metric>(name: string, make: () => M, type: abstract new (...args: any[]) => M): M {
    const existing = this.#metrics.get(name);
    if (existing !== undefined) {
      if (existing instanceof type) return existing;
      throw new TypeError(`metric ${name} already registered with another type`);
    }
    const metric = make();
    this.#metrics.set(name, metric);
    return metric;
  }

  get(name: string): Metric | undefined {
    return this.#metrics.get(name);
  }

  /** Prometheus text exposition of every metric, in registration order. */
  expose(): string {
    let out = '';
    for (const metric of this.#metrics.values()) out += metric.expose();
    return out;
  }
}

/** The content type to serve `expose()` with. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
