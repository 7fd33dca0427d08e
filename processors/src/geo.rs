//! Great-circle distance, the one geometric fact the re-sourcing ranking and the time chain need.

/// A point on Earth in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Location {
    /// Latitude, −90…90.
    pub lat: f64,
    /// Longitude, −180…180.
    pub lng: f64,
}

/// Mean Earth radius used for distances.
const EARTH_RADIUS_KM: f64 = 6371.0;

/// Haversine distance in km. Used to order candidates and to estimate travel, never for money.
pub fn distance_km(a: Location, b: Location) -> f64 {
    let (lat1, lat2) = (a.lat.to_radians(), b.lat.to_radians());
    let (dlat, dlng) = ((b.lat - a.lat).to_radians(), (b.lng - a.lng).to_radians());
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlng / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}
