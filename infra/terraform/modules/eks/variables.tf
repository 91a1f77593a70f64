variable "name" {
  type        = string
  description = "Cluster name; also the prefix of every resource name."
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,30}$", var.name))
    error_message = "name must be 3-31 lowercase letters, digits or dashes, starting with a letter."
  }
}

variable "kubernetes_version" {
  type        = string
  description = "EKS control plane version, major.minor."
  default     = "1.31"
  validation {
    condition     = can(regex("^1\\.(2[9]|3[0-9])$", var.kubernetes_version))
    error_message = "kubernetes_version must be a supported 1.29-1.39 minor, e.g. \"1.31\"."
  }
}

variable "vpc_cidr" {
  type        = string
  description = "CIDR of the cluster VPC; split into one public and one private subnet per zone."
  default     = "10.20.0.0/16"
  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && tonumber(split("/", var.vpc_cidr)[1]) <= 20
    error_message = "vpc_cidr must be a valid IPv4 CIDR of /20 or larger."
  }
}

variable "availability_zones" {
  type        = list(string)
  description = "Zones to spread subnets and nodes over; at least two for a highly available control plane."
  validation {
    condition     = length(var.availability_zones) >= 2 && length(var.availability_zones) <= 4
    error_message = "Give between two and four availability zones."
  }
}

variable "single_nat_gateway" {
  type        = bool
  description = "One NAT gateway for all zones (cheaper, dev) instead of one per zone (survives a zone loss)."
  default     = false
  validation {
    condition     = var.single_nat_gateway == true || var.single_nat_gateway == false
    error_message = "single_nat_gateway must be a boolean."
  }
}

variable "public_access_cidrs" {
  type        = list(string)
  description = "CIDRs allowed to reach the public Kubernetes API endpoint; empty makes the endpoint private only."
  default     = []
  validation {
    condition     = alltrue([for c in var.public_access_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "public_access_cidrs must be valid CIDRs, and never 0.0.0.0/0."
  }
}

variable "node_groups" {
  type = map(object({
    instance_types = list(string)
    capacity_type  = optional(string, "ON_DEMAND")
    min_size       = number
    max_size       = number
    desired_size   = number
    disk_size_gib  = optional(number, 50)
    labels         = optional(map(string), {})
  }))
  description = "Managed node groups by name."
  validation {
    condition = length(var.node_groups) > 0 && alltrue([
      for g in values(var.node_groups) :
      g.min_size <= g.desired_size && g.desired_size <= g.max_size && g.min_size >= 0 &&
      contains(["ON_DEMAND", "SPOT"], g.capacity_type) && length(g.instance_types) > 0
    ])
    error_message = "Each node group needs instance types, min <= desired <= max, and capacity_type ON_DEMAND or SPOT."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Retention of control plane and VPC flow logs in CloudWatch."
  default     = 365
  validation {
    condition     = contains([30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch retention value of at least 30 days."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags on every resource, on top of the provider's default_tags."
  default     = {}
  validation {
    condition     = alltrue([for k, v in var.tags : length(k) > 0 && length(k) <= 128 && length(v) <= 256])
    error_message = "Tag keys must be 1-128 characters and values at most 256."
  }
}

variable "access_entries" {
  type = map(object({
    principal_arn = string
    # An EKS cluster access policy name, e.g. AmazonEKSAdminPolicy.
    policy = string
    # Namespaces the policy is limited to; empty means the whole cluster.
    namespaces = optional(list(string), [])
  }))
  description = "IAM principals (the pipeline's roles) allowed to use the Kubernetes API, by name."
  default     = {}
  validation {
    condition = alltrue([
      for e in values(var.access_entries) :
      can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/", e.principal_arn)) && can(regex("^AmazonEKS[A-Za-z]+Policy$", e.policy))
    ])
    error_message = "Each access entry needs an IAM role ARN and an EKS access policy name such as AmazonEKSAdminPolicy."
  }
}
