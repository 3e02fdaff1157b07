"""CBV 2.0 vocabulary values: bare JSON-LD strings, URNs, CURIEs and GS1 Web URIs.

EPCIS 2.0 JSON-LD writes standard values bare (``"shipping"``, ``"in_transit"``, ``"po"``); XML and
older data use URNs (``urn:epcglobal:cbv:bizstep:shipping``); the event hash and the linked-data view
use Web URIs (``https://ref.gs1.org/cbv/BizStep-shipping``). :func:`full_uri` brings any of them to
the Web URI, :func:`short` back to the bare word the consumer portal prints.
"""

from __future__ import annotations

CBV_ROOT = "https://ref.gs1.org/cbv/"

# field → (Web URI type prefix, URN segment)
VOCABULARIES = {
    "bizStep": ("BizStep-", "bizstep"),
    "disposition": ("Disp-", "disp"),
    "bizTransactionType": ("BTT-", "btt"),
    "sourceDestType": ("SDT-", "sdt"),
    "errorReason": ("ER-", "er"),
}

BIZ_STEPS = frozenset("""
accepting arriving assembling collecting commissioning consigning creating_class_instance
cycle_counting decommissioning departing destroying disassembling dispensing encoding entering_exiting
holding inspecting installing killing loading other packing picking receiving removing repackaging
repairing replacing reserving retail_selling sampling sensor_reporting shipping staging_outbound
stock_taking stocking storing transporting unloading unpacking void_shipping
""".split())

DISPOSITIONS = frozenset("""
active available completeness_inferred completeness_verified conformant container_closed
container_open damaged destroyed dispensed disposed encoded expired in_progress in_transit inactive
mismatch_instance mismatch_class mismatch_quantity needs_replacement no_pedigree_match non_conformant
non_sellable_other partially_dispensed recalled reserved retail_sold returned sellable_accessible
sellable_not_accessible stolen unavailable unknown
""".split())

BIZ_TRANSACTION_TYPES = frozenset("bol cert desadv inv pedigree po poc prodorder recadv rma testprd testres upevt".split())
SOURCE_DEST_TYPES = frozenset({"owning_party", "possessing_party", "location"})
ERROR_REASONS = frozenset({"did_not_occur", "incorrect_data"})
SENSOR_ALERT_TYPES = frozenset({"ALARM_CONDITION", "ERROR_CONDITION"})
COMPONENTS = frozenset("""altitude axial_distance azimuth easting elevation_angle height latitude longitude northing
polar_angle spherical_radius x y z""".split())
MEASUREMENT_TYPES = frozenset("""
AbsoluteHumidity AbsorbedDose AbsorbedDoseRate Acceleration Altitude AmountOfSubstance
AmountOfSubstancePerUnitVolume Angle AngularAcceleration AngularMomentum AngularVelocity Area Capacitance
Conductance Conductivity Count Density Dimensionless DoseEquivalent DoseEquivalentRate DynamicViscosity
ElectricCharge ElectricCurrent ElectricCurrentDensity ElectricFieldStrength Energy Exposure Force Frequency
Illuminance Inductance Irradiance KinematicViscosity Length LinearMomentum Luminance LuminousFlux
LuminousIntensity MagneticFlux MagneticFluxDensity MagneticVectorPotential Mass MassConcentration MassFlowRate
MassPerAreaTime MemoryCapacity MolalityOfSolute MolarEnergy MolarMass MolarVolume Power Pressure RadiantFlux
RadiantIntensity Radioactivity RelativeHumidity Resistance Resistivity SolidAngle SpecificVolume Speed
SurfaceDensity SurfaceTension Temperature Time Torque Voltage Volume VolumeFlowRate VolumeFraction
VolumetricFlux Wavenumber
""".split())

STANDARD_TERMS = {
    "bizStep": BIZ_STEPS, "disposition": DISPOSITIONS, "bizTransactionType": BIZ_TRANSACTION_TYPES,
    "sourceDestType": SOURCE_DEST_TYPES, "errorReason": ERROR_REASONS,
}
"""The standard terms of each CBV 2.0 vocabulary (the EPCIS 2.0 JSON-LD context lists the same)."""

STEP_LABELS = {
    "commissioning": "Produced", "creating_class_instance": "Produced", "packing": "Packed",
    "shipping": "Shipped", "departing": "Departed", "transporting": "In transit", "arriving": "Arrived",
    "receiving": "Received", "storing": "Stored", "inspecting": "Inspected", "retail_selling": "Sold",
    "accepting": "Accepted", "loading": "Loaded", "unloading": "Unloaded", "unpacking": "Unpacked",
    "assembling": "Assembled", "repackaging": "Repackaged", "stocking": "Stocked", "sampling": "Sampled",
    "decommissioning": "Decommissioned", "destroying": "Destroyed", "sensor_reporting": "Sensor reading",
}

CURIE_PREFIXES = {"gs1:": "https://gs1.org/voc/", "cbv:": CBV_ROOT, "epcis:": "https://ref.gs1.org/epcis/"}


def expand_curie(value: str) -> str:
    for prefix, root in CURIE_PREFIXES.items():
        if value.startswith(prefix):
            return root + value[len(prefix):]
    return value


def full_uri(field: str, value: str) -> str:
    """The GS1 Web URI of a CBV value of ``field`` (one of :data:`VOCABULARIES`); other URIs unchanged."""
    value = value.strip()
    type_prefix, urn_segment = VOCABULARIES[field]
    urn = f"urn:epcglobal:cbv:{urn_segment}:"
    if value.startswith(urn):
        return CBV_ROOT + type_prefix + value[len(urn):]
    if ":" not in value:  # bare JSON-LD term
        return CBV_ROOT + type_prefix + value
    return expand_curie(value)


def short(field: str, value: str | None) -> str | None:
    """The bare term of a standard CBV value (``shipping``); a user-defined URI is returned as is."""
    if value is None:
        return None
    uri = full_uri(field, value)
    type_prefix = CBV_ROOT + VOCABULARIES[field][0]
    return uri[len(type_prefix):] if uri.startswith(type_prefix) else uri


def step_label(biz_step: str | None) -> str:
    term = short("bizStep", biz_step) if biz_step else None
    if not term:
        return "Event"
    return STEP_LABELS.get(term, term.replace("_", " ").capitalize() if ":" not in term else term)
