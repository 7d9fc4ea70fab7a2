// A workout as GET /v1/workouts/{id} (and the lists) send it (gateway/workouts_api.py),
// shared by every area that shows one.

export interface Risk { level: 'low' | 'moderate' | 'high'; acwr: number | null; reasons: string[] }

/** GET /v1/workouts/{id}: SI units, ISO times; health fields null when withheld. */
export interface Workout {
  id: string;
  athlete_id: string;
  status: string;
  sport: string;
  title: string | null;
  started_at: string;
  ended_at: string | null;
  distance_m: number;
  duration_s: number;
  moving_time_s: number;
  avg_speed_mps: number;
  avg_pace_s_per_km: number | null;
  elevation_gain_m: number;
  elevation_loss_m: number;
  avg_hr: number | null;
  max_hr: number | null;
  hr_zone_s: number[] | null;
  calories_kcal: number | null;
  trimp: number | null;
  min_spo2: number | null;
  spo2_low_alert: boolean | null;
  cardiac_drift_pct: number | null;
  sport_mismatch: string | null;
  risk: Risk | null;
  samples_count: number;
}
